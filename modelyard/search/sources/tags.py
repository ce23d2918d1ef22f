"""The tags index: every tag on something anyone may find (a listed model, an image shown to someone), ranked by
how much carries it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from modelyard.catalog.models import Model, Tag, TagOnModel
from modelyard.core.db import utcnow
from modelyard.images.models import Image, Post, TagOnImage
from modelyard.images.visibility import with_versions
from modelyard.search.sources.images import indexable_images
from modelyard.search.sources.models import listed_models
from modelyard.search.types import Document

INDEX = "tags"


def model_uses_query() -> Any:
    """(tag id, listed models carrying it)."""
    return (
        select(TagOnModel.tag_id, func.count(TagOnModel.model_id))
        .join(Model, Model.id == TagOnModel.model_id)
        .where(listed_models())
        .group_by(TagOnModel.tag_id)
    )


def image_uses_query() -> Any:
    """(tag id, images shown to someone that show it)."""
    counted = (
        select(TagOnImage.tag_id, func.count(TagOnImage.image_id))
        .select_from(TagOnImage)
        .join(Image, Image.id == TagOnImage.image_id)
        .join(Post, Post.id == Image.post_id)
    )
    return with_versions(counted).where(indexable_images(), TagOnImage.disabled.is_(False)).group_by(TagOnImage.tag_id)


def indexable_tags() -> Any:
    on_model = exists(
        select(TagOnModel.model_id)
        .join(Model, Model.id == TagOnModel.model_id)
        .where(TagOnModel.tag_id == Tag.id, listed_models())
    )
    shown = (
        select(TagOnImage.image_id)
        .select_from(TagOnImage)
        .join(Image, Image.id == TagOnImage.image_id)
        .join(Post, Post.id == Image.post_id)
    )
    on_image = exists(
        with_versions(shown).where(TagOnImage.tag_id == Tag.id, TagOnImage.disabled.is_(False), indexable_images())
    )
    return or_(on_model, on_image)


class TagSource:
    index = INDEX

    def ids(self, session: Session, *, after: int = 0, limit: int = 1000) -> list[int]:
        query = select(Tag.id).where(Tag.id > after, indexable_tags()).order_by(Tag.id).limit(limit)
        return list(session.scalars(query))

    def stamps(self, session: Session, entity_ids: Sequence[int]) -> dict[int, datetime | None]:
        # A tag's name never changes: the reconciler compares which tags are indexed (the periodic job keeps
        # their counts).
        return dict.fromkeys(entity_ids)

    def load(self, session: Session, entity_ids: Sequence[int]) -> dict[int, Document | None]:
        found: dict[int, Document | None] = dict.fromkeys(entity_ids)
        tags = session.scalars(select(Tag).where(Tag.id.in_(entity_ids))).all()
        ids = [tag.id for tag in tags]
        if not ids:
            return found
        on_models = {tag_id: n for tag_id, n in session.execute(model_uses_query().where(TagOnModel.tag_id.in_(ids)))}
        on_images = {tag_id: n for tag_id, n in session.execute(image_uses_query().where(TagOnImage.tag_id.in_(ids)))}
        for tag in tags:
            uses = int(on_models.get(tag.id, 0)) + int(on_images.get(tag.id, 0))
            if not uses:
                continue
            found[tag.id] = Document(
                index=INDEX,
                entity_id=tag.id,
                name=tag.name,
                created_at=tag.created_at or utcnow(),
                nsfw_level=tag.nsfw_level or 1,
                source_updated_at=None,
                metrics={"popularity": uses},
            )
        return found
