"""What moves along with a change of status: posts and their images, the model's lastVersionAt, the search
outbox, caches, other domains' hooks and live events. Used by `lifecycle`, which decides the changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.db import on_commit
from modelyard.core.runtime import get_runtime
from modelyard.images.models import Image, Post
from modelyard.search import outbox

UNPUBLISH_META = ("unpublishedAt", "unpublishedBy", "unpublishedReason", "customMessage", "unpublishedWithModel")

Hook = Callable[[Session, Model], None]
_visibility_hooks: list[Hook] = []


def on_model_visibility_changed(hook: Hook) -> Hook:
    """Register `hook(session, model)`, run in the transaction whenever a model appears or disappears (collections
    reindex the collections holding it)."""
    _visibility_hooks.append(hook)
    return hook


def ids_of(versions: Iterable[ModelVersion]) -> list[int]:
    return [version.id for version in versions]


def hide_posts(session: Session, version_ids: list[int], actor: User | None, now: datetime) -> list[int]:
    """Posts of these versions lose publishedAt (kept as metadata.prevPublishedAt); returns their image ids."""
    if not version_ids:
        return []
    posts = session.scalars(
        select(Post).where(Post.model_version_id.in_(version_ids), Post.published_at.is_not(None))
    ).all()
    for post in posts:
        assert post.published_at is not None
        post.metadata_ = {
            **(post.metadata_ or {}),
            "prevPublishedAt": iso(post.published_at),
            "unpublishedAt": iso(now),
            "unpublishedBy": actor.id if actor else None,
            "hiddenWithVersion": True,
        }
        post.published_at = None
    return images_of_posts(session, [post.id for post in posts])


def show_posts(session: Session, versions: list[ModelVersion], owner_id: int, now: datetime) -> list[int]:
    """Posts hidden with these versions come back with their first publication date (anyone's: a reviewer's
    post went down with the version too), and the owner's never-published showcase posts go live."""
    if not versions:
        return []
    hidden = session.scalars(
        select(Post).where(Post.model_version_id.in_(ids_of(versions)), Post.published_at.is_(None))
    ).all()
    shown = []
    for post in hidden:
        metadata = dict(post.metadata_ or {})
        if not metadata.pop("hiddenWithVersion", False) and post.user_id != owner_id:
            continue  # someone else's draft: theirs to publish
        previous = metadata.pop("prevPublishedAt", None)
        metadata.pop("unpublishedAt", None)
        metadata.pop("unpublishedBy", None)
        post.published_at = datetime.fromisoformat(previous) if previous else now
        post.metadata_ = metadata
        shown.append(post.id)
    return images_of_posts(session, shown)


def images_of_posts(session: Session, post_ids: list[int]) -> list[int]:
    if not post_ids:
        return []
    return list(session.scalars(select(Image.id).where(Image.post_id.in_(post_ids))))


def refresh_last_version_at(session: Session, model: Model) -> None:
    session.flush()
    published = [
        v.published_at for v in model.versions if v.status == ModelStatus.Published and v.published_at is not None
    ]
    model.last_version_at = max(published) if published else None


def after_change(session: Session, model: Model, *, visible: bool, image_ids: list[int]) -> None:
    """Search, caches, hooks and live events: everything outside the rows themselves."""
    outbox.queue(session, "models", [model.id], "update" if model.status == ModelStatus.Published else "delete")
    outbox.queue(session, "images", image_ids, "update" if visible else "delete")
    for hook in list(_visibility_hooks):
        hook(session, model)
    runtime = get_runtime()
    invalidate_model(session, model.id, content_tag(model.user_id))
    payload = {"modelId": model.id, "status": model.status.value}
    on_commit(session, lambda: runtime.events.publish("catalog.model", payload))


def content_tag(user_id: int) -> str:
    """The cache tag of a user's content overview (their models by status)."""
    return f"user:{user_id}:content"


def model_tag(model_id: int) -> str:
    return f"model:{model_id}"


# Every cached public view of the catalog (the v1 API's lists and hash lookups): any model's change reaches them.
PUBLIC_CATALOG_TAG = "catalog:public"


def invalidate_model(session: Session, model_id: int, *also: str) -> None:
    """After commit, a model's cached views are stale, and every public view of the catalog with them."""
    get_runtime().cache.invalidate_after_commit(session, model_tag(model_id), PUBLIC_CATALOG_TAG, *also)


def mark_unpublished(meta: dict[str, Any] | None, actor: User | None, now: datetime, **extra: Any) -> dict[str, Any]:
    marked = {key: value for key, value in (meta or {}).items() if key not in UNPUBLISH_META}
    marked.update(unpublishedAt=iso(now), unpublishedBy=actor.id if actor else None)
    marked.update({key: value for key, value in extra.items() if value is not None})
    return marked


def clear_unpublished(meta: dict[str, Any] | None) -> dict[str, Any]:
    return {key: value for key, value in (meta or {}).items() if key not in UNPUBLISH_META}


def had_early_access_purchase(versions: Iterable[ModelVersion]) -> bool:
    return any((version.meta or {}).get("hadEarlyAccessPurchase") for version in versions)


def record_early_access_purchase(session: Session, version: ModelVersion) -> None:
    """Called by Buzz when someone buys early access: from then on only a moderator can take the version down."""
    version.meta = {**(version.meta or {}), "hadEarlyAccessPurchase": True}
    session.flush()


def iso(moment: datetime) -> str:
    return moment.isoformat()
