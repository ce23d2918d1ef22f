"""Tags on images: the words people put on a picture (the catalog's `Tag`, shared with models, normalised the same
way: "Anime " and "anime" are one tag). A tag with an NSFW level raises the level of every image it is on
(`images.levels.apply_tag_levels`), and the post's level follows.

The owner edits their own (`TagSource.User`) tags; a moderator edits those and their own (`TagSource.Moderator`);
a classifier's labels and tags a moderator disabled are left alone by both, so a picture cannot be talked down
from a level its labels gave it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.catalog.enums import TagType
from modelyard.catalog.models import Tag
from modelyard.catalog.service import tag_key
from modelyard.core.errors import Forbidden, ValidationFailed
from modelyard.images import levels
from modelyard.images.models import Image, TagOnImage, TagSource
from modelyard.search import outbox

MAX_IMAGE_TAGS = 20
MAX_TAG_LENGTH = 60


def normalise(names: Iterable[str]) -> list[str]:
    """The tags as they are stored, each once, in the order given; blank ones dropped. Refuses control
    characters (NUL among them), over-long tags and too many tags."""
    seen: dict[str, None] = {}
    for raw in names:
        if any(unicodedata.category(character) == "Cc" for character in raw):
            raise ValidationFailed("A tag cannot contain control characters", field="tags")
        name = tag_key(raw)
        if not name:
            continue
        if len(name) > MAX_TAG_LENGTH:
            raise ValidationFailed(f"Tag {name[:20]!r}… is longer than {MAX_TAG_LENGTH} characters", field="tags")
        seen.setdefault(name, None)
    if len(seen) > MAX_IMAGE_TAGS:
        raise ValidationFailed(f"An image has at most {MAX_IMAGE_TAGS} tags", field="tags")
    return list(seen)


def _editable_sources(actor: User, image: Image) -> set[TagSource]:
    if policy.is_moderator(actor):
        return {TagSource.user, TagSource.moderator}
    if actor.id == image.user_id:
        return {TagSource.user}
    raise Forbidden("Only the image's author and moderators can change its tags")


def _tags_named(session: Session, names: Sequence[str]) -> dict[str, Tag]:
    """The tags of these names, created as people's tags where new."""
    found = {tag.name: tag for tag in session.scalars(select(Tag).where(Tag.name.in_(names)))} if names else {}
    for name in names:
        if name not in found:
            found[name] = Tag(name=name, type=TagType.user)
            session.add(found[name])
    session.flush()
    return found


def set_image_tags(session: Session, actor: User, image: Image, names: Iterable[str]) -> list[str]:
    """Make `names` the image's tags among those `actor` may edit; others' tags stay. Returns every tag it now
    shows. The image's level (and its post's) are recomputed."""
    sources = _editable_sources(actor, image)
    wanted = normalise(names)
    rows = session.execute(
        select(TagOnImage, Tag.name).join(Tag, Tag.id == TagOnImage.tag_id).where(TagOnImage.image_id == image.id)
    ).all()
    current = {name: link for link, name in rows}
    untouchable = [name for name, link in current.items() if link.source not in sources]
    if len(set(wanted) | set(untouchable)) > MAX_IMAGE_TAGS:
        raise ValidationFailed(f"An image has at most {MAX_IMAGE_TAGS} tags", field="tags")
    removed = [link for name, link in current.items() if link.source in sources and name not in wanted]
    for link in removed:
        session.delete(link)
    tags = _tags_named(session, [name for name in wanted if name not in current])
    source = TagSource.user if actor.id == image.user_id else TagSource.moderator
    added = [
        TagOnImage(image_id=image.id, tag_id=tags[name].id, source=source, user_id=actor.id)
        for name in wanted
        if name not in current
    ]
    session.add_all(added)
    session.flush()
    # the tags' documents count the images that show them (the tags source decides whether this one counts)
    outbox.queue(session, "tags", [link.tag_id for link in (*removed, *added)], "update")
    _levels_changed(session, image)
    return tags_of(session, [image.id])[image.id]


def add_image_tag(session: Session, actor: User, image: Image, name: str) -> list[str]:
    """Add one tag (the others stay)."""
    editable = editable_tags_of(session, actor, image)
    return set_image_tags(session, actor, image, [*editable, name])


def remove_image_tag(session: Session, actor: User, image: Image, name: str) -> list[str]:
    """Remove one tag, if `actor` may edit it."""
    key = tag_key(name)
    editable = editable_tags_of(session, actor, image)
    return set_image_tags(session, actor, image, [tag for tag in editable if tag != key])


def editable_tags_of(session: Session, actor: User, image: Image) -> list[str]:
    sources = _editable_sources(actor, image)
    rows = session.execute(
        select(Tag.name)
        .join(TagOnImage, TagOnImage.tag_id == Tag.id)
        .where(TagOnImage.image_id == image.id, TagOnImage.source.in_(sources))
        .order_by(TagOnImage.created_at, Tag.name)
    )
    return list(rows.scalars())


def tags_of(session: Session, image_ids: Sequence[int]) -> dict[int, list[str]]:
    """The tags each image shows (not those a moderator disabled), by name."""
    found: dict[int, list[str]] = {image_id: [] for image_id in image_ids}
    if not image_ids:
        return found
    rows = session.execute(
        select(TagOnImage.image_id, Tag.name)
        .join(Tag, Tag.id == TagOnImage.tag_id)
        .where(TagOnImage.image_id.in_(list(image_ids)), TagOnImage.disabled.is_(False))
        .order_by(TagOnImage.image_id, TagOnImage.created_at, Tag.name)
    )
    for image_id, name in rows:
        found[image_id].append(name)
    return found


def _levels_changed(session: Session, image: Image) -> None:
    levels.apply_tag_levels(session, [image.id])
    if image.post_id is not None:
        levels.refresh_post_levels(session, [image.post_id])
        post = image.post  # its version's level follows (`refresh_post_levels` sees to it)
        if post is not None and post.published_at is not None:
            outbox.queue(session, "images", [image.id], "update")
