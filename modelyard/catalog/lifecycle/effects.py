"""What moves along with a change of status: the model's lastVersionAt, the search outbox, caches, other domains'
hooks (what they keep for a version, such as its posts and images, goes down and comes back with it) and live
events. Used by `lifecycle`, which decides the changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.db import on_commit
from modelyard.core.runtime import get_runtime
from modelyard.search import outbox

UNPUBLISH_META = ("unpublishedAt", "unpublishedBy", "unpublishedReason", "customMessage", "unpublishedWithModel")
EARLY_ACCESS_PURCHASE = "hadEarlyAccessPurchase"

Hook = Callable[[Session, Model], None]
_visibility_hooks: list[Hook] = []


def on_model_visibility_changed(hook: Hook) -> Hook:
    """Register `hook(session, model)`, run in the transaction whenever a model appears or disappears (collections
    reindex the collections holding it)."""
    _visibility_hooks.append(hook)
    return hook


def ids_of(versions: Iterable[ModelVersion]) -> list[int]:
    return [version.id for version in versions]


class VersionContent(Protocol):
    """What another domain keeps for a version and hides and shows with it (images: its posts)."""

    def hide(self, session: Session, version_ids: list[int], actor: User | None, now: datetime) -> None:
        """These versions went down: their content goes down with them, remembering it was published."""
        ...

    def show(self, session: Session, versions: list[ModelVersion], owner_id: int, now: datetime) -> None:
        """These versions came up: what went down with them comes back, and what waited for them goes live."""
        ...


_version_content: list[VersionContent] = []


def on_version_visibility(handler: VersionContent) -> VersionContent:
    """Register what a domain hides and shows with versions, called in the transaction of each change."""
    _version_content.append(handler)
    return handler


def hide_version_content(session: Session, version_ids: list[int], actor: User | None, now: datetime) -> None:
    if version_ids:
        for handler in list(_version_content):
            handler.hide(session, version_ids, actor, now)


def show_version_content(session: Session, versions: list[ModelVersion], owner_id: int, now: datetime) -> None:
    if versions:
        for handler in list(_version_content):
            handler.show(session, versions, owner_id, now)


def refresh_last_version_at(session: Session, model: Model) -> None:
    session.flush()
    published = [
        v.published_at for v in model.versions if v.status == ModelStatus.Published and v.published_at is not None
    ]
    model.last_version_at = max(published) if published else None


def after_change(session: Session, model: Model) -> None:
    """Search, caches, hooks and live events: everything outside the rows themselves."""
    outbox.queue(session, "models", [model.id], "update" if model.status == ModelStatus.Published else "delete")
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
    """After commit, a model's cached views are stale, and every public view of the catalog with them; so is its
    search document (the indexer reads the model again, and drops it if it is not published)."""
    get_runtime().cache.invalidate_after_commit(session, model_tag(model_id), PUBLIC_CATALOG_TAG, *also)
    outbox.queue(session, "models", [model_id], "update")


def mark_unpublished(meta: dict[str, Any] | None, actor: User | None, now: datetime, **extra: Any) -> dict[str, Any]:
    marked = {key: value for key, value in (meta or {}).items() if key not in UNPUBLISH_META}
    marked.update(unpublishedAt=iso(now), unpublishedBy=actor.id if actor else None)
    marked.update({key: value for key, value in extra.items() if value is not None})
    return marked


def clear_unpublished(meta: dict[str, Any] | None) -> dict[str, Any]:
    return {key: value for key, value in (meta or {}).items() if key not in UNPUBLISH_META}


def had_early_access_purchase(versions: Iterable[ModelVersion]) -> bool:
    return any((version.meta or {}).get(EARLY_ACCESS_PURCHASE) for version in versions)


def record_early_access_purchase(session: Session, version: ModelVersion) -> None:
    """Called by Buzz when someone buys early access: from then on only a moderator can take the version down."""
    version.meta = {**(version.meta or {}), EARLY_ACCESS_PURCHASE: True}
    session.flush()


def iso(moment: datetime) -> str:
    return moment.isoformat()
