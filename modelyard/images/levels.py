"""NSFW levels that follow from others (reference civitai.md §3.4; one bit per image, bit-ORs above):

- an image: its classifier's level, raised to the highest level of its enabled tags (a moderation tag "nudity"
  makes it at least R); a level a moderator or the rating game locked never changes here;
- a post: the OR of its Scanned images' levels (0 while none is);
- a version: the OR of its owner's published showcase images' levels; a model: the OR of its published versions',
  or every adult bit (`NSFW_LEVELS`) when its owner flagged it nsfw.

Every change of an image's level calls the functions here for what is built on it; they flush and invalidate the
cached views of the models whose level moved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.models import Model, ModelVersion, Tag
from modelyard.core.nsfw import NSFW_LEVELS
from modelyard.images import classifier
from modelyard.images.models import Image, Ingestion, Post, TagOnImage


def _or(values: Iterable[int]) -> int:
    level = 0
    for value in values:
        level |= value or 0
    return level


def apply_tag_levels(session: Session, image_ids: Sequence[int]) -> list[int]:
    """Set each unlocked, rated image's level to the classifier's, raised to its highest enabled tag's; returns
    the ids whose level changed. Pending images are left unrated (their scan sets the level)."""
    if not image_ids:
        return []
    images = session.scalars(
        select(Image).where(
            Image.id.in_(list(image_ids)), Image.nsfw_level_locked.is_(False), Image.ingestion != Ingestion.Pending
        )
    ).all()
    tag_levels: dict[int, int] = defaultdict(int)
    for image_id, level in session.execute(
        select(TagOnImage.image_id, Tag.nsfw_level)
        .join(Tag, Tag.id == TagOnImage.tag_id)
        .where(TagOnImage.image_id.in_([image.id for image in images]), TagOnImage.disabled.is_(False))
    ):
        tag_levels[image_id] = max(tag_levels[image_id], level or 0)
    changed = []
    for image in images:
        base = classifier.level_for(image.nsfw_score)[0] if image.nsfw_score is not None else image.nsfw_level
        level = max(base, tag_levels[image.id])
        if level != image.nsfw_level:
            image.nsfw_level = level
            changed.append(image.id)
    session.flush()
    return changed


def tag_level(session: Session, image_id: int) -> int:
    """The highest level of the image's enabled tags (0: none)."""
    found = session.scalars(
        select(Tag.nsfw_level)
        .join(TagOnImage, TagOnImage.tag_id == Tag.id)
        .where(TagOnImage.image_id == image_id, TagOnImage.disabled.is_(False))
    )
    return max(found, default=0)


def refresh_post_levels(session: Session, post_ids: Sequence[int]) -> None:
    """Each post's level from its Scanned images; then the levels of the versions they show."""
    if not post_ids:
        return
    posts = session.scalars(select(Post).where(Post.id.in_(list(post_ids)))).all()
    found: dict[int, list[int]] = defaultdict(list)
    for post_id, level in session.execute(
        select(Image.post_id, Image.nsfw_level)
        .where(Image.post_id.in_([post.id for post in posts]), Image.ingestion == Ingestion.Scanned)
        .distinct()
    ):
        if post_id is not None:
            found[post_id].append(level)
    for post in posts:
        post.nsfw_level = _or(found[post.id])
    session.flush()
    refresh_catalog_levels(session, [post.model_version_id for post in posts if post.model_version_id is not None])


def refresh_catalog_levels(session: Session, version_ids: Sequence[int]) -> None:
    """Each version's level from its owner's published showcase images, then its model's from its published
    versions; cached views of a model whose level moved are dropped."""
    if not version_ids:
        return
    versions = session.scalars(select(ModelVersion).where(ModelVersion.id.in_(list(set(version_ids))))).all()
    found: dict[int, list[int]] = defaultdict(list)
    for version_id, level in session.execute(
        select(Post.model_version_id, Image.nsfw_level)
        .join(Post, Post.id == Image.post_id)
        .join(ModelVersion, ModelVersion.id == Post.model_version_id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(
            Post.model_version_id.in_([version.id for version in versions]),
            Post.published_at.is_not(None),
            Post.user_id == Model.user_id,
            Image.ingestion == Ingestion.Scanned,
        )
        .distinct()
    ):
        if version_id is not None:
            found[version_id].append(level)
    moved: set[int] = set()
    for version in versions:
        level = _or(found[version.id])
        if level != version.nsfw_level:
            version.nsfw_level = level
            moved.add(version.model_id)
    session.flush()
    for model in session.scalars(select(Model).where(Model.id.in_({version.model_id for version in versions}))):
        published = session.scalars(
            select(ModelVersion.nsfw_level).where(
                ModelVersion.model_id == model.id, ModelVersion.status == ModelStatus.Published
            )
        )
        level = NSFW_LEVELS if model.nsfw else _or(published)
        if level != model.nsfw_level:
            model.nsfw_level = level
            moved.add(model.id)
    session.flush()
    for model_id in sorted(moved):
        effects.invalidate_model(session, model_id)


TAG_BATCH = 500


def reapply_tag(session: Session, tag_id: int, *, after: int = 0, batch: int | None = None) -> int | None:
    """After a tag's level changed: the levels of the next `batch` images carrying it (ids above `after`), and
    of their posts; the last image id seen while more may follow, else None."""
    batch = batch or TAG_BATCH
    image_ids = list(
        session.scalars(
            select(TagOnImage.image_id)
            .where(TagOnImage.tag_id == tag_id, TagOnImage.image_id > after)
            .order_by(TagOnImage.image_id)
            .limit(batch)
        )
    )
    changed = apply_tag_levels(session, image_ids)
    if changed:
        posts = session.scalars(select(Image.post_id).where(Image.id.in_(changed)).distinct())
        refresh_post_levels(session, [post_id for post_id in posts if post_id is not None])
    return image_ids[-1] if len(image_ids) == batch else None
