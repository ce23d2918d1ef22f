"""The one way in for every image: the showcase, posts, the API and the demo all call `accept_upload`.

The request does only the cheap part (`checks`: type, structure, pixel limits; milliseconds) and stores the
original privately; the image is then Pending, shown to its owner only, and the jobs of `images.tasks` do the
rest (`pipeline`): the public copy, thumbnails, hashes, generation data, the classifier. `ingest_now` runs those
steps at once (tests, the demo, scripts).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.accounts.policy import is_moderator
from modelyard.core.errors import Conflict, Forbidden
from modelyard.core.runtime import get_runtime
from modelyard.images import levels
from modelyard.images.ingest import checks, pipeline
from modelyard.images.ingest.checks import Inspected, inspect
from modelyard.images.models import Image, Ingestion, Post

__all__ = ["Inspected", "accept_upload", "clean_name", "ingest_now", "inspect", "rescan"]

MAX_NAME = 255


def accept_upload(
    session: Session,
    owner: User,
    post: Post,
    data: bytes,
    *,
    name: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Image:
    """Check an uploaded image, store its original privately, and add it Pending to `post` after its last image;
    its ingestion jobs go out when the caller commits. Raises ValidationFailed or PayloadTooLarge (nothing stored)
    for a file refused, Forbidden for someone else's post."""
    if post.user_id != owner.id:
        raise Forbidden("Images are added to a post by its author")
    inspected = checks.inspect(data)
    key = pipeline.original_key(owner.id, data, inspected.extension)
    get_runtime().storage.save(key, data, content_type=inspected.mime_type)
    last = session.scalar(select(func.max(Image.index)).where(Image.post_id == post.id)) if post.id else None
    image = Image(
        user_id=owner.id,
        index=(last + 1) if last is not None else len(post.images),
        storage_key=key,
        original_key=key,
        name=clean_name(name),
        mime_type=inspected.mime_type,
        animated=inspected.animated,
        width=inspected.width,
        height=inspected.height,
        size_kb=len(data) / 1024,
        ingestion=Ingestion.Pending,
        nsfw_level=0,
        meta=meta,
    )
    post.images.append(image)
    session.flush()
    pipeline.enqueue_step(session, "images.ingest", image.id)
    return image


def ingest_now(session: Session, image_id: int) -> None:
    """Every step of the image's ingestion, now, in the caller's session (its queued jobs then find it done)."""
    if pipeline.process_image(session, image_id, read=session, then_classify=False):
        pipeline.classify_images(session, [image_id], read=session)
    session.flush()


def rescan(session: Session, actor: User | None, image: Image) -> None:
    """Run ingestion again from the original (after an Error, or to re-rate with today's classifier and
    thresholds); the image is Pending, so hidden, until it is done. A blocked image is unblocked by a moderator
    (`images.moderate.unblock`), not rescanned. `actor` (None: the system) must own the image or moderate."""
    if actor is not None and actor.id != image.user_id and not is_moderator(actor):
        raise Forbidden("Only the image's owner or a moderator can rescan it")
    if image.ingestion == Ingestion.Blocked:
        raise Conflict("A blocked image is not rescanned; a moderator can unblock it")
    image.ingestion = Ingestion.Pending
    image.ingestion_error = None
    image.phash = None  # not ready for the classifier until processed again
    session.flush()
    if image.post_id is not None:
        levels.refresh_post_levels(session, [image.post_id])
    pipeline.enqueue_step(session, "images.ingest", image.id)


def clean_name(name: str | None) -> str | None:
    """The uploaded file's name, as shown in the viewer: printable, at most 255 characters."""
    if not name:
        return None
    cleaned = "".join(character for character in name if character.isprintable()).strip()
    return cleaned[:MAX_NAME] or None
