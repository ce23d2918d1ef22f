"""The users index: creators people look for, that is every active (not banned) account with at least one model
anyone may list or one image shown to someone. Metrics: the downloads of their listed models, and how many."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.models import Model
from modelyard.images.models import Image, Post
from modelyard.images.visibility import with_versions
from modelyard.search.sources.images import indexable_images
from modelyard.search.sources.models import listed_models
from modelyard.search.types import Document

INDEX = "users"


def _posted_images() -> Any:
    return with_versions(select(Image.id).select_from(Image).join(Post, Post.id == Image.post_id)).where(
        indexable_images()
    )


def indexable_users() -> Any:
    """A WHERE clause on User: active, with something anyone may find."""
    has_model = exists(select(Model.id).where(Model.user_id == User.id, listed_models()))
    has_image = exists(_posted_images().where(Image.user_id == User.id))
    return User.banned_at.is_(None) & or_(has_model, has_image)


def model_totals_query() -> Any:
    """(user id, listed models, their downloads) per creator."""
    return (
        select(Model.user_id, func.count(Model.id), func.coalesce(func.sum(Model.download_count), 0))
        .where(listed_models())
        .group_by(Model.user_id)
    )


class UserSource:
    index = INDEX

    def ids(self, session: Session, *, after: int = 0, limit: int = 1000) -> list[int]:
        query = select(User.id).where(User.id > after, indexable_users()).order_by(User.id).limit(limit)
        return list(session.scalars(query))

    def stamps(self, session: Session, entity_ids: Sequence[int]) -> dict[int, datetime | None]:
        # An account keeps no change time: the reconciler compares which users are indexed, not their text.
        return dict.fromkeys(entity_ids)

    def load(self, session: Session, entity_ids: Sequence[int]) -> dict[int, Document | None]:
        found: dict[int, Document | None] = dict.fromkeys(entity_ids)
        users = session.scalars(select(User).where(User.id.in_(entity_ids), User.banned_at.is_(None))).all()
        ids = [user.id for user in users]
        if not ids:
            return found
        totals = {
            user_id: (int(count), int(downloads))
            for user_id, count, downloads in session.execute(model_totals_query().where(Model.user_id.in_(ids)))
        }
        posted = _posted_images().with_only_columns(Image.user_id).where(Image.user_id.in_(ids)).distinct()
        posters = set(session.scalars(posted))
        for user in users:
            models, downloads = totals.get(user.id, (0, 0))
            if not models and user.id not in posters:
                continue
            found[user.id] = Document(
                index=INDEX,
                entity_id=user.id,
                name=user.username,
                created_at=user.created_at,
                keywords=user.display_name or "",
                body=user.bio or "",
                nsfw_level=1,
                user_id=user.id,
                source_updated_at=None,
                metrics={"downloads": downloads, "popularity": models},
            )
        return found
