"""Posts of a model version's pictures (its showcase, and the demo's), and what changes when pictures are added.

Every picture goes in through `images.ingest.accept_upload`, the one way in (checked, stored privately, Pending
until its jobs have run); a batch is checked whole before any file is stored, so a bad file changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.models import ModelVersion
from modelyard.core.errors import NotFound, ValidationFailed
from modelyard.images import ingest
from modelyard.images.ingest.checks import max_upload_bytes
from modelyard.images.models import Image, Post
from modelyard.search import outbox

__all__ = ["MAX_POST_IMAGES", "MAX_TITLE", "check_all", "clean_title", "create_version_post", "max_upload_bytes"]

MAX_POST_IMAGES = 20
MAX_TITLE = 255


def check_all(images: Sequence[bytes]) -> None:
    """Check every file of a batch before any is stored (`ingest.inspect`, milliseconds each)."""
    for data in images:
        ingest.inspect(data)


def clean_title(title: str | None) -> str | None:
    title = (title or "").strip() or None
    if title is not None and (len(title) > MAX_TITLE or "\x00" in title):
        raise ValidationFailed(f"A post title is at most {MAX_TITLE} characters of text", field="title")
    return title


def goes_live_with(version: ModelVersion) -> bool:
    """Whether a showcase post added now is published at once: its version and model are live. Otherwise it
    waits unpublished and goes live with the version (the lifecycle's hook, `images.hooks`)."""
    return version.status == ModelStatus.Published and version.model.status == ModelStatus.Published


def create_version_post(
    session: Session,
    owner_id: int,
    version: ModelVersion,
    *,
    title: str | None,
    images: Sequence[bytes],
    names: Sequence[str | None] | None = None,
    metas: Sequence[dict[str, Any] | None] | None = None,
) -> Post:
    """A showcase post for a model version, public when the version is (each picture once it is Scanned)."""
    if not images:
        raise ValidationFailed("A post needs at least one image")
    if len(images) > MAX_POST_IMAGES:
        raise ValidationFailed(f"A post has at most {MAX_POST_IMAGES} images")
    title = clean_title(title)
    owner = session.get(User, owner_id)
    if owner is None:
        raise NotFound(f"No user with id {owner_id}")
    check_all(images)
    post = Post(user_id=owner_id, model_version_id=version.id, title=title, metadata_={})
    session.add(post)
    session.flush()
    added: list[Image] = []
    for position, data in enumerate(images):
        name = names[position] if names else None
        meta = metas[position] if metas else None
        added.append(ingest.accept_upload(session, owner, post, data, name=name, meta=meta))
    if goes_live_with(version):
        post.published_at = post.created_at
    session.flush()
    showcase_changed(session, version, [image.id for image in added], live=post.published_at is not None)
    return post


def showcase_changed(session: Session, version: ModelVersion, image_ids: list[int], *, live: bool) -> None:
    """After pictures were added to a version or went: search learns of the live ones (it indexes them once they
    are Scanned), and the model's cached views (its page, lists showing its cover, the v1 API) are stale."""
    if image_ids and live:
        outbox.queue(session, "images", image_ids, "update")
    effects.invalidate_model(session, version.model_id)
