"""Moderation tags: a moderator sets the level a tag rates content at (and marks it a Moderation tag), and every
image carrying it is rated again by a job (`images.apply_tag_level`), its post, version and model with it.

An image is at least its enabled tags' highest level (`images.levels`), unless a moderator locked its level.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.enums import TagType
from modelyard.catalog.models import Tag
from modelyard.core.db import contains_pattern
from modelyard.core.errors import NotFound, ValidationFailed
from modelyard.core.jobs import enqueue
from modelyard.core.nsfw import BrowsingLevel
from modelyard.images.models import TagOnImage
from modelyard.moderation import journal

LEVELS = [int(level) for level in BrowsingLevel]  # PG (says nothing) … XXX, and Blocked
MAX_QUERY = 60


def tags_on_images(session: Session, *, query: str = "", limit: int = 100) -> list[tuple[Tag, int]]:
    """Tags carried by images, with how many carry each, the most used first (narrowed by a name fragment)."""
    counted = (
        select(Tag, func.count(TagOnImage.image_id).label("uses"))
        .join(TagOnImage, TagOnImage.tag_id == Tag.id)
        .group_by(Tag.id)
        .order_by(func.count(TagOnImage.image_id).desc(), Tag.name)
        .limit(limit)
    )
    query = query.strip().lower()[:MAX_QUERY]
    if query:
        counted = counted.where(Tag.name.like(contains_pattern(query), escape="\\"))
    return [(tag, uses) for tag, uses in session.execute(counted)]


def set_tag_level(
    session: Session, actor: User, tag_id: int, *, level: int, moderation: bool, reason: str | None = None
) -> Tag:
    """Set the level a tag rates images at; `moderation` marks it a Moderation tag (one that exists to rate
    content). Logged; the images carrying it are rated again by a job. (A tag a moderator put on an image stays
    there whatever its owner does: `images.tags`.)"""
    tag = session.get(Tag, tag_id) if 0 < tag_id < 2**31 else None
    if tag is None:
        raise NotFound(f"No tag with id {tag_id}")
    if level not in LEVELS:
        raise ValidationFailed("Choose a level: PG, PG-13, R, X, XXX or Blocked", field="level")
    kind = TagType.moderation if moderation else (TagType.user if tag.type == TagType.moderation else tag.type)
    if (tag.nsfw_level, tag.type) == (level, kind):
        return tag
    journal.record(
        session,
        actor,
        "tag",
        tag.id,
        "tag_level",
        reason=(reason or "").strip()[:2000] or None,
        detail={"tag": tag.name, "from": tag.nsfw_level, "to": level, "type": kind.value},
    )
    changed_level = tag.nsfw_level != level
    tag.nsfw_level, tag.type = level, kind
    session.flush()
    if changed_level:
        enqueue(session, "images.apply_tag_level", tag_id=tag.id)
    return tag
