"""Every images job, declared in one place; services enqueue them by name (`enqueue(session,
"images.forget_object", storage_key=...)`), so no logic module imports this one."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from modelyard.core.jobs import Priority, enqueue, job, periodic
from modelyard.core.runtime import get_runtime
from modelyard.images import levels, upkeep
from modelyard.images.ingest import pipeline

log = logging.getLogger("modelyard.images")


@job("images.ingest", priority=Priority.HIGH)
def ingest(session: Session, *, image_id: int, key: str | None = None) -> None:
    """Ingestion's first step: the public copy, thumbnails, hashes and generation data of a Pending image, then
    its rating is queued (`images.classify`). Retried with backoff; out of attempts, the image is Error."""
    with pipeline.failing_for_good(session, image_id, key, step="processing"), get_runtime().db.session() as read:
        pipeline.process_image(session, image_id, read=read, then_classify=True)


@job("images.classify", priority=Priority.HIGH)
def classify(session: Session, *, image_id: int, key: str | None = None) -> None:
    """Rate `image_id` with the NSFW classifier, with other processed images waiting (one batch through the model,
    `image_classifier_batch` at most): they are Scanned. A job finding its image rated by an earlier batch rates
    whatever else waits, or nothing."""
    with pipeline.failing_for_good(session, image_id, key, step="rating"), get_runtime().db.session() as read:
        waiting = pipeline.waiting_for_classifier(read, image_id, batch=True)
        if waiting:
            pipeline.classify_images(session, waiting, read=read)


@periodic("images.fill_blurhashes", cron="* * * * *", priority=Priority.LOW)
def fill_blurhashes(session: Session) -> None:
    """Images stored before BlurHashes were computed at ingestion get theirs, a batch a minute (finds nothing,
    through a partial index, once the backlog is done)."""
    filled = upkeep.fill_missing_blurhashes(session)
    if filled:
        log.info("blurhashes computed", extra={"count": filled})


@job("images.forget_object", priority=Priority.LOW)
def forget_object(session: Session, *, storage_key: str) -> None:
    """The bytes of a removed picture (with its thumbnails and poster, or an original), once no image uses
    them."""
    upkeep.forget_object(session, storage_key)


@job("images.apply_tag_level", priority=Priority.LOW)
def apply_tag_level(session: Session, *, tag_id: int, after: int = 0) -> None:
    """A tag's level changed: the images carrying it are rated again, a batch per run, each run queueing the
    next."""
    last = levels.reapply_tag(session, tag_id, after=after)
    if last is not None:
        enqueue(session, "images.apply_tag_level", tag_id=tag_id, after=last)
