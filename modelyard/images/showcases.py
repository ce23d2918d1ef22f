"""A version's showcase, as its owner arranges it: the pictures of the owner's own posts of the version, in order
(post by post, then each post's order). The first picture is the version's cover (its card in every list, the
first image of the public API's version).

Pictures are added to the owner's latest post of the version while it has room; reordering keeps each post's
number of pictures and moves pictures between them, so the order people see is exactly the order chosen.
Every function checks that the caller owns the model and flushes; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.errors import Forbidden, NotFound, ValidationFailed
from modelyard.core.jobs import enqueue
from modelyard.images import ingest, service
from modelyard.images.models import Image, Post
from modelyard.images.service import MAX_POST_IMAGES
from modelyard.search import outbox

MAX_SHOWCASE_IMAGES = 50
# Removed pictures' stored bytes go a while later, once no image uses them: an upload of the same picture (the
# same content address) in flight when the last one was removed has committed by then.
FORGET_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class Arranged:
    image: Image
    post: Post

    @property
    def published(self) -> bool:
        return self.post.published_at is not None


def require_owner(user: User, version: ModelVersion) -> None:
    if version.model.user_id != user.id:
        raise Forbidden("A version's showcase images are arranged by the model's owner")


def arranged(session: Session, version: ModelVersion) -> list[Arranged]:
    """The showcase in order: two columns of one query, whatever the number of posts."""
    rows = session.execute(
        select(Image, Post)
        .join(Post, Post.id == Image.post_id)
        .where(Post.model_version_id == version.id, Post.user_id == version.model.user_id)
        .order_by(Post.id, Image.index, Image.id)
    ).all()
    return [Arranged(image, post) for image, post in rows]


def count(session: Session, version_ids: list[int]) -> dict[int, int]:
    """How many showcase pictures each version has (published or not), for the wizard's steps."""
    if not version_ids:
        return {}
    rows = session.execute(
        select(Post.model_version_id, func.count(Image.id))
        .join(Image, Image.post_id == Post.id)
        .join(ModelVersion, ModelVersion.id == Post.model_version_id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(Post.model_version_id.in_(version_ids), Post.user_id == Model.user_id)
        .group_by(Post.model_version_id)
    )
    return {version_id: total for version_id, total in rows if version_id is not None}


def add(
    session: Session,
    user: User,
    version: ModelVersion,
    pictures: list[bytes],
    *,
    names: list[str | None] | None = None,
    metas: list[dict[str, Any] | None] | None = None,
) -> list[Image]:
    """Append pictures to the showcase, each through `ingest.accept_upload` (all checked first: a bad one in a
    batch stores none). They are Pending until ingested, then shown when the version is."""
    require_owner(user, version)
    if not pictures:
        raise ValidationFailed("Choose at least one image", field="images")
    current = arranged(session, version)
    if len(current) + len(pictures) > MAX_SHOWCASE_IMAGES:
        room = MAX_SHOWCASE_IMAGES - len(current)
        raise ValidationFailed(
            f"A version shows at most {MAX_SHOWCASE_IMAGES} images; there is room for {max(room, 0)} more",
            field="images",
        )
    service.check_all(pictures)
    # The latest post the owner has not kept as a draft in the post editor (`images.editing`): a draft waits for
    # its owner, and pictures added to the showcase go live with the version.
    post = next((item.post for item in reversed(current) if not (item.post.metadata_ or {}).get("draft")), None)
    added: list[Image] = []
    for position, picture in enumerate(pictures):
        if post is None or len(post.images) >= MAX_POST_IMAGES:
            post = Post(user_id=user.id, model_version_id=version.id, metadata_={})
            session.add(post)
            session.flush()
            if service.goes_live_with(version):
                post.published_at = post.created_at
        name = names[position] if names else None
        meta = metas[position] if metas else None
        added.append(ingest.accept_upload(session, user, post, picture, name=name, meta=meta))
    session.flush()
    live = [image.id for image in added if image.post is not None and image.post.published_at is not None]
    service.showcase_changed(session, version, live, live=True)
    return added


def reorder(session: Session, user: User, version: ModelVersion, image_ids: list[int]) -> list[Arranged]:
    """Put the showcase in the order of `image_ids`, which lists each of its pictures exactly once."""
    require_owner(user, version)
    current = arranged(session, version)
    known = {item.image.id: item.image for item in current}
    if len(image_ids) != len(set(image_ids)) or set(image_ids) != set(known):
        raise ValidationFailed("List every image of this version's showcase exactly once", field="image_ids")
    # Each post keeps its number of pictures; the pictures flow through the posts in the new order.
    slots = [item.post for item in current]
    for position, (post, image_id) in enumerate(zip(slots, image_ids, strict=True)):
        image = known[image_id]
        image.post_id = post.id
        image.index = position - _first_slot(slots, post)
    session.flush()
    for item in current:
        session.expire(item.post, ["images"])
    effects.invalidate_model(session, version.model_id)
    return arranged(session, version)


def _first_slot(slots: list[Post], post: Post) -> int:
    return next(position for position, slot in enumerate(slots) if slot is post)


def set_cover(session: Session, user: User, version: ModelVersion, image_id: int) -> list[Arranged]:
    """Make a picture the first of the showcase (the version's cover), the others keeping their order."""
    require_owner(user, version)
    order = [item.image.id for item in arranged(session, version)]
    if image_id not in order:
        raise NotFound(f"No image {image_id} in this version's showcase")
    return reorder(session, user, version, [image_id, *(other for other in order if other != image_id)])


def remove(session: Session, user: User, version: ModelVersion, image_id: int) -> None:
    """Take a picture out of the showcase; a post left empty goes with it."""
    require_owner(user, version)
    found = next((item for item in arranged(session, version) if item.image.id == image_id), None)
    if found is None:
        raise NotFound(f"No image {image_id} in this version's showcase")
    post, keys = found.post, {found.image.storage_key, found.image.original_key}
    post.images.remove(found.image)
    session.delete(found.image)
    for position, image in enumerate(post.images):
        image.index = position
    if not post.images:
        session.delete(post)
    session.flush()
    if found.published:
        outbox.queue(session, "images", [image_id], "delete")
    for key in sorted(key for key in keys if key):
        enqueue(session, "images.forget_object", delay=FORGET_AFTER_SECONDS, storage_key=key)
    effects.invalidate_model(session, version.model_id)
