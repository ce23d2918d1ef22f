"""The steps of ingestion, each run by a job (`images.tasks`) or all at once (`ingest_now`):

    accept_upload ──> Pending (original stored privately) ──images.ingest──> processed (public copy, thumbnails,
    hashes, generation data, linked resources) ──images.classify──> Scanned (rated)
                                   └─ perceptual hash close to a blocked one ──> Blocked (lookalike)
    a step that fails is retried with backoff; when its attempts run out the image is Error, with the reason.

Each step does its slow work (reading the original, decoding, encoding, storing, the classifier) before the job's
first statement, reading through a session of its own: on SQLite a job's session holds the one write lock from
its first statement to its commit. A step finds its image in the state it expects or does nothing, so a job
delivered twice, or a job overtaken by `ingest_now` or a moderator, is harmless.
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.core.db import utcnow
from modelyard.core.jobs import Job, enqueue
from modelyard.core.runtime import get_runtime
from modelyard.images import classifier, events, levels
from modelyard.images.ingest.process import Processed, Unreadable, hash_distance, process
from modelyard.images.metadata import read_metadata
from modelyard.images.models import BlockedFor, BlockedImageHash, Image, Ingestion
from modelyard.images.resources import link_resources
from modelyard.images.urls import poster_key, thumbnail_key
from modelyard.search import outbox

log = logging.getLogger("modelyard.images")

WAITING = (Ingestion.Pending, Ingestion.Error)  # what the processing step takes (Error: a requeued dead job)
CLASSIFIER_SIDE = 256  # the model looks at 224 px: the smallest stored picture at least this wide is read


def original_key(user_id: int, data: bytes, extension: str) -> str:
    """Under `originals/`, which `/media` never serves: a content address, so one upload stored twice is kept
    once."""
    return f"originals/{user_id}/{hashlib.sha256(data).hexdigest()[:32]}.{extension}"


def public_key(user_id: int, webp: bytes) -> str:
    return f"images/{user_id}/{hashlib.sha256(webp).hexdigest()[:24]}.webp"


def job_key(step: str, image_id: int) -> str:
    """A job's unique key, through which the job finds how many attempts it has left (`last_attempt`)."""
    return f"{step}:{image_id}:{uuid.uuid4().hex[:16]}"


def enqueue_step(session: Session, step: str, image_id: int) -> None:
    key = job_key(step, image_id)
    enqueue(session, step, dedupe_key=key, image_id=image_id, key=key)


# --- step 1: processing -----------------------------------------------------------------------------------------


def process_image(session: Session, image_id: int, *, read: Session, then_classify: bool) -> bool:
    """Make the public copy, thumbnails, hashes and generation data of a Pending image; True when it now waits for
    the classifier (False: gone, already done, damaged, or blocked as a look-alike)."""
    source = read.get(Image, image_id)
    if source is None or source.ingestion not in WAITING:
        return False
    settings = get_runtime().settings
    storage = get_runtime().storage
    original = storage.read_bytes(source.original_key or source.storage_key)
    user_id = source.user_id
    try:
        made = process(original, max_side=settings.image_max_side, thumbnail_widths=settings.image_thumbnail_widths)
    except Unreadable as exc:
        log.info("image cannot be decoded", extra={"image_id": image_id, "error": str(exc)})
        image = session.get(Image, image_id)
        if image is not None and image.ingestion in WAITING:
            mark_error(image, "The picture is damaged inside and cannot be decoded; upload it again.")
        return False
    found = read_metadata(original)
    key = public_key(user_id, made.webp)
    _store(key, made)

    image = session.get(Image, image_id, populate_existing=True, with_for_update=True)
    if image is None or image.ingestion not in WAITING:
        return False
    image.storage_key = key
    image.mime_type = "image/webp"
    image.animated = made.animated
    image.poster_key = poster_key(key) if made.poster is not None else None
    image.thumbnail_widths = sorted(made.thumbnails)
    image.width, image.height = made.width, made.height
    image.size_kb = len(made.webp) / 1024
    image.blurhash = made.blurhash
    image.phash = made.phash
    image.ingestion = Ingestion.Pending
    image.ingestion_error = None
    if found is not None:
        if image.meta is None and found.meta:
            image.meta = dict(found.meta)
        link_resources(session, image, found.resources)
    session.flush()
    lookalike = lookalike_of(session, made.phash)
    if lookalike is not None:
        image.ingestion = Ingestion.Blocked
        image.blocked_for = BlockedFor.lookalike
        image.scanned_at = utcnow()
        session.flush()
        events.image_ingested(session, image, outcome(session, image, uncertain=False, lookalike_of=lookalike.image_id))
        return False
    if then_classify:
        enqueue_step(session, "images.classify", image_id)
    return True


def _store(key: str, made: Processed) -> None:
    storage = get_runtime().storage
    storage.save(key, made.webp, content_type="image/webp")
    if made.poster is not None:
        storage.save(poster_key(key), made.poster, content_type="image/webp")
    for width, data in made.thumbnails.items():
        storage.save(thumbnail_key(key, width), data, content_type="image/webp")


def lookalike_of(session: Session, phash: int) -> BlockedImageHash | None:
    """The blocked hash within the configured number of bits of `phash` (the closest). Blocked hashes are few
    (thousands) next to the images: compared here rather than in SQL, the same way on both databases."""
    distance = get_runtime().settings.image_lookalike_distance
    best: tuple[int, BlockedImageHash] | None = None
    for blocked in session.scalars(select(BlockedImageHash)):
        bits = hash_distance(phash, blocked.phash)
        if bits <= distance and (best is None or bits < best[0]):
            best = (bits, blocked)
    return best[1] if best is not None else None


# --- step 2: the classifier, in batches ---------------------------------------------------------------------------


def waiting_for_classifier(read: Session, image_id: int, *, batch: bool) -> list[int]:
    """`image_id`, and with `batch` other processed Pending images (oldest first) to rate in the same run."""
    ready = select(Image.id).where(Image.ingestion == Ingestion.Pending, Image.phash.is_not(None))
    ids = list(read.scalars(ready.where(Image.id == image_id)))
    if batch:
        most = get_runtime().settings.image_classifier_batch
        ids += read.scalars(ready.where(Image.id != image_id).order_by(Image.id).limit(max(most - len(ids), 0)))
    return ids


def classify_images(session: Session, image_ids: list[int], *, read: Session) -> int:
    """Rate the images (all at once through the classifier) and finish their ingestion; how many were finished."""
    pictures: list[PILImage.Image] = []
    rated: list[int] = []
    for image_id in image_ids:
        image = read.get(Image, image_id)
        if image is None:
            continue
        pictures.append(classifier_picture(image))
        rated.append(image_id)
    scores = classifier.score_images(pictures)
    finished = 0
    rows = session.scalars(
        select(Image)
        .where(Image.id.in_(rated), Image.ingestion == Ingestion.Pending)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    by_id = {image.id: image for image in rows}
    for image_id, score in zip(rated, scores, strict=True):
        if image_id in by_id:
            finish_rated(session, by_id[image_id], score)
            finished += 1
    return finished


def classifier_picture(image: Image) -> PILImage.Image:
    """The smallest stored picture the classifier can use (a thumbnail, or the poster or the copy)."""
    wide = sorted(width for width in image.thumbnail_widths or [] if width >= CLASSIFIER_SIDE)
    key = thumbnail_key(image.storage_key, wide[0]) if wide else image.poster_key or image.storage_key
    with PILImage.open(io.BytesIO(get_runtime().storage.read_bytes(key))) as picture:
        picture.load()
        return picture.copy()


def finish_rated(session: Session, image: Image, score: float) -> None:
    """Scanned, with the level its score and tags give (a locked level stays); the levels built on it follow."""
    level, uncertain = classifier.level_for(score)
    image.nsfw_score = score
    if not image.nsfw_level_locked:
        image.nsfw_level = level
    image.ingestion = Ingestion.Scanned
    image.scanned_at = utcnow()
    image.ingestion_error = None
    session.flush()
    levels.apply_tag_levels(session, [image.id])
    if image.post_id is not None:
        levels.refresh_post_levels(session, [image.post_id])
        if image.post is not None and image.post.published_at is not None:
            outbox.queue(session, "images", [image.id], "update")
    events.image_ingested(session, image, outcome(session, image, uncertain=uncertain, lookalike_of=None))


def outcome(session: Session, image: Image, *, uncertain: bool, lookalike_of: int | None) -> events.IngestOutcome:
    earlier = session.scalar(select(Image.id).where(Image.user_id == image.user_id, Image.id < image.id).limit(1))
    return events.IngestOutcome(uncertain=uncertain, lookalike_of=lookalike_of, first_upload=earlier is None)


# --- failures -------------------------------------------------------------------------------------------------------


def mark_error(image: Image, reason: str) -> None:
    image.ingestion = Ingestion.Error
    image.ingestion_error = reason[:500]


def last_attempt(key: str | None) -> bool:
    """Whether the job recorded under `key` is on its last attempt (read apart from the job's own session)."""
    if key is None:
        return True
    with get_runtime().db.session() as read:
        row = read.execute(select(Job.attempts, Job.max_attempts).where(Job.dedupe_key == key)).first()
    return row is None or row.attempts >= row.max_attempts


@contextmanager
def failing_for_good(session: Session, image_id: int, key: str | None, *, step: str) -> Iterator[None]:
    """Run a step; when it raises on the job's last attempt, the image is marked Error (committed apart, as the
    job's own work is rolled back) before the failure goes on to the dead letters."""
    try:
        yield
    except Exception as exc:
        if last_attempt(key):
            session.rollback()  # releases the job's locks before another transaction writes the image
            reason = f"{step.capitalize()} failed after every retry ({type(exc).__name__}); a rescan tries again."
            with get_runtime().db.transaction() as other:
                image = other.get(Image, image_id)
                if image is not None and image.ingestion in WAITING:
                    mark_error(image, reason)
            log.warning("image ingestion failed for good", extra={"image_id": image_id, "step": step})
        raise
