"""The images index: every image the visibility rule can show someone (ingested and passed, in a published post,
of a model not taken down), searchable by its prompt, tags and creator.

Public: shown to anonymous visitors (`images.visibility.public_images`); the others (say, of a version only its
owner sees) are found by their owner and moderators only. A prompt its owner hid is not indexed at all."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.models import ModelVersion, Tag
from modelyard.images.models import Image, ImageResource, Post, TagOnImage
from modelyard.images.visibility import images_shown, public_images, published_posts, ready_images, with_versions
from modelyard.search.sources.base import latest, words
from modelyard.search.types import Document

INDEX = "images"
NAME_CHARS = 300


def indexable_images() -> ColumnElement[bool]:
    """Shown to someone: ready, in a published post, of no model taken down (a query from Image joined to Post
    and outer-joined to the post's version and model, `images.visibility.with_versions`)."""
    return and_(ready_images(), published_posts(), images_shown())


def _indexable(query: Any) -> Any:
    return with_versions(query.select_from(Image).join(Post, Post.id == Image.post_id)).where(indexable_images())


class ImageSource:
    index = INDEX

    def ids(self, session: Session, *, after: int = 0, limit: int = 1000) -> list[int]:
        query = _indexable(select(Image.id)).where(Image.id > after).order_by(Image.id).limit(limit)
        return list(session.scalars(query))

    def stamps(self, session: Session, entity_ids: Sequence[int]) -> dict[int, datetime | None]:
        rows = session.execute(
            _indexable(select(Image.id, Image.created_at, Image.scanned_at, Post.published_at, Post.updated_at)).where(
                Image.id.in_(entity_ids)
            )
        )
        return {row[0]: latest(*row[1:]) for row in rows}

    def load(self, session: Session, entity_ids: Sequence[int]) -> dict[int, Document | None]:
        found: dict[int, Document | None] = dict.fromkeys(entity_ids)
        rows = session.execute(
            _indexable(
                select(
                    Image,
                    User.username,
                    ModelVersion.base_model,
                    ModelVersion.model_id,
                    Post.published_at,
                    Post.updated_at,
                )
            )
            .join(User, User.id == Image.user_id)
            .where(Image.id.in_(entity_ids))
        ).all()
        ids = [row[0].id for row in rows]
        if not ids:
            return found
        public = set(session.scalars(_public(select(Image.id)).where(Image.id.in_(ids))))
        tags = _tags(session, ids)
        models = _models_used(session, ids)
        for image, username, base_model, model_id, published_at, post_updated_at in rows:
            prompt = "" if image.hide_meta else _prompt(image.meta)
            used = sorted({*models[image.id], *([model_id] if model_id is not None else [])})
            terms = {
                "tag": tuple(tags[image.id]),
                "base_model": (base_model,) if base_model else (),
                "creator": (username,),
                "model": tuple(str(used_id) for used_id in used),
            }
            found[image.id] = Document(
                index=INDEX,
                entity_id=image.id,
                name=prompt[:NAME_CHARS],
                created_at=image.created_at,
                keywords=words([*tags[image.id], username]),
                body=prompt,
                nsfw_level=image.nsfw_level,
                user_id=image.user_id,
                public=image.id in public,
                source_updated_at=latest(image.created_at, image.scanned_at, published_at, post_updated_at),
                terms={facet: values for facet, values in terms.items() if values},
            )
        return found


def _public(query: Any) -> Any:
    return with_versions(query.select_from(Image).join(Post, Post.id == Image.post_id)).where(public_images())


def _prompt(meta: dict[str, Any] | None) -> str:
    prompt = (meta or {}).get("prompt")
    return " ".join(prompt.split()) if isinstance(prompt, str) else ""


def _tags(session: Session, image_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    rows = session.execute(
        select(TagOnImage.image_id, Tag.name)
        .join(Tag, Tag.id == TagOnImage.tag_id)
        .where(TagOnImage.image_id.in_(image_ids), TagOnImage.disabled.is_(False))
        .order_by(TagOnImage.image_id, Tag.name)
    )
    for image_id, name in rows:
        found[image_id].append(name)
    return found


def _models_used(session: Session, image_ids: list[int]) -> dict[int, set[int]]:
    """The models whose versions the images name as resources (the post's own version is added by the caller)."""
    found: dict[int, set[int]] = defaultdict(set)
    rows = session.execute(
        select(ImageResource.image_id, ModelVersion.model_id)
        .join(ModelVersion, ModelVersion.id == ImageResource.model_version_id)
        .where(ImageResource.image_id.in_(image_ids))
    )
    for image_id, model_id in rows:
        found[image_id].add(model_id)
    return found
