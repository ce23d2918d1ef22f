"""Posts as people make them: a set of images with a title and a description, a draft until its owner publishes
it, optionally of a model version. On the owner's own version it is part of that version's showcase; on someone
else's (published) version it is a "made with this" post (`images.visibility.showcase_posts` tells them apart).

Every image goes in through `images.ingest.accept_upload`, the one way in: it is Pending until its jobs have run,
and a published post shows it once it is Scanned. Who may read a post is `can_view_post`; who may change it,
its owner (`editable_post`: a 404 for what the caller cannot see, a 403 for what they can see but not change).
Every function flushes; the request or job commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.browsing import browsing_level
from modelyard.accounts.models import User
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.lifecycle import visibility as catalog_visibility
from modelyard.catalog.models import ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.errors import Forbidden, NotFound, ValidationFailed
from modelyard.core.jobs import enqueue
from modelyard.core.params import ID_MAX
from modelyard.images import ingest, levels, visibility
from modelyard.images.models import Image, Ingestion, Post
from modelyard.images.service import MAX_POST_IMAGES, clean_title
from modelyard.images.tags import set_image_tags
from modelyard.search import outbox

__all__ = [
    "MAX_DETAIL",
    "MAX_POST_IMAGES",
    "Upload",
    "add_images",
    "can_view_post",
    "create_post",
    "delete_post",
    "editable_image",
    "editable_post",
    "get_image",
    "get_post",
    "publish",
    "remove_image",
    "reorder",
    "set_hide_meta",
    "set_image_tags",
    "shown_images",
    "unpublish",
    "update_post",
]

MAX_DETAIL = 20_000  # characters of markdown: a long write-up, not a book
# Set while the owner keeps a post as a draft: the lifecycle's `show` does not publish it with its version.
DRAFT_FLAG = "draft"
_KEEP: Any = object()
# Removed images' stored bytes go a while later, once no image uses them (as a version's showcase does): an upload
# of the same picture (the same content address) in flight when the last one was removed has committed by then.
FORGET_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class Upload:
    """One file to add to a post: its bytes and the name it was uploaded under."""

    data: bytes
    name: str | None = None


# --- who sees, who edits ----------------------------------------------------------------------------------------


def version_of(session: Session, post: Post) -> ModelVersion | None:
    return session.get(ModelVersion, post.model_version_id) if post.model_version_id else None


def can_view_post(session: Session, viewer: User | None, post: Post) -> bool:
    """`images.visibility`'s rule for one post and one viewer: its owner and moderators always; anyone else
    when it is published, its version (if any) is one they may see, and its model is not taken down."""
    if policy.is_owner_or_moderator(viewer, post.user_id):
        return True
    if not visibility.post_is_published(post):
        return False
    version = version_of(session, post)
    if version is None:
        return True
    return visibility.model_shows_images(version.model.mode) and catalog_visibility.can_view_version(
        viewer, version, version.model
    )


def sees_everything_of(viewer: User | None, post: Post) -> bool:
    """Owners and moderators see every image of a post, whatever its ingestion state."""
    return policy.is_owner_or_moderator(viewer, post.user_id)


def image_is_shown(viewer: User | None, image: Image, post: Post) -> bool:
    """Whether `viewer` may open this image of a post they can see: others only see Scanned images."""
    return sees_everything_of(viewer, post) or image.ingestion == Ingestion.Scanned


def shown_images(viewer: User | None, post: Post) -> list[Image]:
    """The images of a post `viewer` can see, in order: its owner sees all of them, whatever their state;
    anyone else the Scanned ones at a level they browse (`accounts.browsing`)."""
    if viewer is not None and viewer.id == post.user_id:
        return list(post.images)
    asked = browsing_level(viewer)
    return [image for image in post.images if image.ingestion == Ingestion.Scanned and image.nsfw_level & asked]


def meta_shown(viewer: User | None, image: Image) -> bool:
    """Generation data hidden by its owner is read by them and moderators only."""
    return not image.hide_meta or policy.is_owner_or_moderator(viewer, image.user_id)


def get_post(session: Session, viewer: User | None, post_id: int) -> Post:
    """The post if `viewer` may see it; otherwise the same 404 as for a post that does not exist."""
    post = session.get(Post, post_id) if 0 < post_id <= ID_MAX else None
    if post is None or not can_view_post(session, viewer, post):
        raise NotFound(f"No post with id {post_id}")
    return post


def require_owner(actor: User, post: Post) -> None:
    if post.user_id != actor.id:
        raise Forbidden("Only the post's author can change it")


def editable_post(session: Session, actor: User, post_id: int) -> Post:
    """The post if `actor` owns it: 404 when they cannot see it, 403 when they can but it is not theirs."""
    post = get_post(session, actor, post_id)
    require_owner(actor, post)
    return post


def get_image(session: Session, viewer: User | None, image_id: int) -> Image:
    """An image of a post `viewer` may see, shown to them (404 otherwise, as for one that does not exist)."""
    image = session.get(Image, image_id) if 0 < image_id <= ID_MAX else None
    post = image.post if image is not None else None
    if image is None or post is None or not can_view_post(session, viewer, post):
        raise NotFound(f"No image with id {image_id}")
    if not image_is_shown(viewer, image, post):
        raise NotFound(f"No image with id {image_id}")
    return image


def editable_image(session: Session, actor: User, image_id: int) -> Image:
    image = get_image(session, actor, image_id)
    if image.user_id != actor.id:
        raise Forbidden("Only the image's author can change it")
    return image


# --- the post -----------------------------------------------------------------------------------------------------


def clean_detail(detail: str | None) -> str | None:
    detail = (detail or "").strip() or None
    if detail is not None and "\x00" in detail:
        raise ValidationFailed("A description cannot contain NUL characters", field="detail")
    if detail is not None and len(detail) > MAX_DETAIL:
        raise ValidationFailed(f"A description is at most {MAX_DETAIL} characters", field="detail")
    return detail


def _version_for(session: Session, owner: User, version_id: int | None) -> ModelVersion | None:
    """A version the owner may see (404 otherwise): theirs (the post joins its showcase) or anyone's published
    one (a post of what they made with it)."""
    if version_id is None:
        return None
    version = catalog_visibility.get_version(session, owner, version_id)
    if version.status == ModelStatus.Deleted or version.model.status == ModelStatus.Deleted:
        raise NotFound(f"No model version with id {version_id}")
    return version


def create_post(
    session: Session, owner: User, *, title: str | None, detail: str | None = None, version_id: int | None = None
) -> Post:
    """A draft post, with no images yet."""
    title = clean_title(title)
    detail = clean_detail(detail)
    version = _version_for(session, owner, version_id)
    post = Post(
        user_id=owner.id,
        model_version_id=version.id if version else None,
        title=title,
        detail=detail,
        metadata_={DRAFT_FLAG: True},
    )
    session.add(post)
    session.flush()
    return post


def update_post(
    session: Session, owner: User, post: Post, *, title: Any = _KEEP, detail: Any = _KEEP, version_id: Any = _KEEP
) -> Post:
    """Change what is given (a version id of None detaches the post from its version)."""
    require_owner(owner, post)
    if title is not _KEEP:
        post.title = clean_title(title)
    if detail is not _KEEP:
        post.detail = clean_detail(detail)
    if version_id is not _KEEP and version_id != post.model_version_id:
        before = version_of(session, post)
        after = _version_for(session, owner, version_id)
        post.model_version_id = after.id if after else None
        session.flush()
        _catalog_changed(session, [version for version in (before, after) if version is not None])
    post.updated_at = utcnow()
    session.flush()
    _search_update(session, post)
    return post


def publish(session: Session, owner: User, post: Post) -> Post:
    """Make a post public (its Pending images appear once Scanned). It needs at least one image."""
    require_owner(owner, post)
    if not post.images:
        raise ValidationFailed("Add at least one image before publishing", field="images")
    metadata = {key: value for key, value in (post.metadata_ or {}).items() if key != DRAFT_FLAG}
    for key in ("hiddenWithVersion", "prevPublishedAt", "unpublishedAt", "unpublishedBy"):
        metadata.pop(key, None)
    post.metadata_ = metadata
    if post.published_at is None:
        post.published_at = utcnow()
    post.updated_at = utcnow()
    session.flush()
    _search_update(session, post)
    _catalog_changed(session, [version] if (version := version_of(session, post)) else [])
    return post


def unpublish(session: Session, owner: User, post: Post) -> Post:
    """Back to a draft: only its owner sees it, and it stays a draft when its version is published again."""
    require_owner(owner, post)
    image_ids = [image.id for image in post.images]
    post.published_at = None
    metadata = {key: value for key, value in (post.metadata_ or {}).items() if key != "hiddenWithVersion"}
    post.metadata_ = {**metadata, DRAFT_FLAG: True}
    post.updated_at = utcnow()
    session.flush()
    outbox.queue(session, "images", image_ids, "delete")
    _catalog_changed(session, [version] if (version := version_of(session, post)) else [])
    return post


def delete_post(session: Session, owner: User, post: Post) -> None:
    """Delete a post and its images; their stored bytes are forgotten a while later, once no image uses them."""
    require_owner(owner, post)
    version = version_of(session, post)
    images = list(post.images)
    for image in images:
        _forget_bytes(session, image)
        session.delete(image)  # explicitly: the ORM would otherwise orphan them (post_id NULL) before the FK acts
    outbox.queue(session, "images", [image.id for image in images], "delete")
    session.flush()
    session.delete(post)
    session.flush()
    _catalog_changed(session, [version] if version else [])


# --- its images ---------------------------------------------------------------------------------------------------


def add_images(session: Session, owner: User, post: Post, uploads: Sequence[Upload | bytes]) -> list[Image]:
    """Append images to a post, each through ingestion (checked before anything is stored, then Pending)."""
    require_owner(owner, post)
    if not uploads:
        raise ValidationFailed("Choose at least one image", field="images")
    if len(post.images) + len(uploads) > MAX_POST_IMAGES:
        room = max(MAX_POST_IMAGES - len(post.images), 0)
        raise ValidationFailed(
            f"A post has at most {MAX_POST_IMAGES} images; there is room for {room} more", field="images"
        )
    files = [(upload, None) if isinstance(upload, bytes) else (upload.data, upload.name) for upload in uploads]
    for data, _ in files:
        ingest.inspect(data)  # every file checked before any is stored: a bad one in a batch stores none
    added = [ingest.accept_upload(session, owner, post, data, name=name) for data, name in files]
    post.updated_at = utcnow()
    session.flush()
    session.expire(post, ["images"])
    levels.refresh_post_levels(session, [post.id])  # and its version's level
    _catalog_changed(session, [version] if (version := version_of(session, post)) else [], levels_too=False)
    return added


def reorder(session: Session, owner: User, post: Post, image_ids: Sequence[int]) -> Post:
    """Put the post's images in the order of `image_ids`, which lists each of them exactly once."""
    require_owner(owner, post)
    known = {image.id: image for image in post.images}
    if len(image_ids) != len(set(image_ids)) or set(image_ids) != set(known):
        raise ValidationFailed("List every image of this post exactly once", field="image_ids")
    for position, image_id in enumerate(image_ids):
        known[image_id].index = position
    post.updated_at = utcnow()
    session.flush()
    session.expire(post, ["images"])
    _search_update(session, post)
    _catalog_changed(session, [version] if (version := version_of(session, post)) else [], levels_too=False)
    return post


def remove_image(session: Session, owner: User, image: Image) -> None:
    """Take an image out of its post (and delete it). A published post left with none goes back to a draft."""
    post = image.post
    if post is None or image.user_id != owner.id:
        raise Forbidden("Only the image's author can remove it")
    post.images.remove(image)
    _forget_bytes(session, image)
    session.delete(image)
    for position, remaining in enumerate(post.images):
        remaining.index = position
    outbox.queue(session, "images", [image.id], "delete")
    if not post.images and post.published_at is not None:
        unpublish(session, owner, post)
    post.updated_at = utcnow()
    session.flush()
    levels.refresh_post_levels(session, [post.id])  # and its version's level
    _catalog_changed(session, [version] if (version := version_of(session, post)) else [], levels_too=False)


def set_hide_meta(session: Session, owner: User, image: Image, hidden: bool) -> Image:
    """Hide (or show again) an image's generation data from everyone but its owner and moderators."""
    if image.user_id != owner.id:
        raise Forbidden("Only the image's author can hide its generation data")
    image.hide_meta = hidden
    session.flush()
    if image.post is not None and image.post.published_at is not None:
        outbox.queue(session, "images", [image.id], "update")
    return image


# --- what follows a change ------------------------------------------------------------------------------------------


def _forget_bytes(session: Session, image: Image) -> None:
    # The public copy's key takes its thumbnails and poster with it (`images.upkeep.forget_object`).
    keys = {image.storage_key, image.original_key}
    for key in sorted(key for key in keys if key):
        enqueue(session, "images.forget_object", delay=FORGET_AFTER_SECONDS, storage_key=key)


def _search_update(session: Session, post: Post) -> None:
    if post.published_at is not None:
        outbox.queue(session, "images", [image.id for image in post.images], "update")


def _catalog_changed(session: Session, versions: Sequence[ModelVersion], *, levels_too: bool = True) -> None:
    """A version's showcase (or its "made with this" posts) changed: its model's cached views are stale, and its
    level (the OR of its owner's published showcase images) may have moved."""
    for version in versions:
        effects.invalidate_model(session, version.model_id)
    if levels_too and versions:
        levels.refresh_catalog_levels(session, [version.id for version in versions])
