"""Every catalog job, declared in one place. The logic lives in the services; they enqueue these jobs by name
(`enqueue(session, "catalog.scan_file", file_id=...)`), so no service imports this module."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.catalog import stats_aggregation
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.files import convert, scanning, uploads
from modelyard.catalog.lifecycle import triggers
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.jobs import Priority, job, periodic
from modelyard.core.runtime import get_runtime

log = logging.getLogger("modelyard.catalog")
PURGE_BATCH = 200


@periodic("catalog.publish_scheduled", cron="* * * * *", priority=Priority.HIGH)
def publish_scheduled(session: Session) -> None:
    """The safety net: whatever is due and still Scheduled is published."""
    count = triggers.publish_due(session, utcnow())
    if count:
        log.info("published scheduled content", extra={"count": count})


@job("catalog.publish_scheduled_now", priority=Priority.HIGH, max_attempts=5)
def publish_scheduled_now(session: Session) -> None:
    """Sent with a delay when something is scheduled, so it goes live at its time rather than at the next tick."""
    triggers.publish_due(session, utcnow())


@periodic("catalog.purge_deleted", cron="17 * * * *", priority=Priority.LOW)
def purge_deleted(session: Session) -> None:
    """Remove the stored files of models and versions deleted longer ago than the retention period. The rows stay
    (moderators keep the history); the files are marked purged."""
    runtime = get_runtime()
    cutoff = utcnow() - timedelta(days=runtime.settings.deleted_retention_days)
    files = session.scalars(
        select(ModelFile)
        .join(ModelVersion, ModelVersion.id == ModelFile.model_version_id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(
            ModelFile.data_purged.is_(False),
            (
                (Model.status == ModelStatus.Deleted) & (Model.deleted_at <= cutoff)
                | (ModelVersion.status == ModelStatus.Deleted) & (ModelVersion.deleted_at <= cutoff)
            ),
        )
        .limit(PURGE_BATCH)
    ).all()
    # Objects first, then the marks: a crash in between leaves files marked unpurged whose objects are gone, and
    # the rerun's delete of a missing object is harmless. The other order would leave objects nobody deletes.
    for file in files:
        runtime.storage.delete(file.storage_key)
        file.data_purged = True
    if len(files) == PURGE_BATCH:
        purge_deleted.enqueue(session)


# --- files ------------------------------------------------------------------------------------------------------


@job("catalog.scan_file", priority=Priority.HIGH, max_attempts=5)
def scan_file(session: Session, *, file_id: int) -> None:
    """Scan one file and record the results; a Danger result takes its version down, an Error holds the file."""
    scanning.scan_file(session, file_id=file_id)


@periodic("catalog.rescan_stalled", cron="*/10 * * * *", priority=Priority.LOW)
def rescan_stalled(session: Session) -> None:
    """Send again the scans that never finished, and hold files whose scan errored."""
    scanning.rescan_stalled(session)


@job("catalog.finish_upload", priority=Priority.HIGH, max_attempts=6)
def finish_upload(session: Session, *, upload_id: int) -> None:
    """Join, hash, check and record an upload's file; safe to run again after a crash at any point."""
    uploads.finish_upload(session, upload_id=upload_id)


@periodic("catalog.tidy_uploads", cron="17 * * * *", priority=Priority.LOW)
def tidy_uploads(session: Session) -> None:
    """Abort abandoned uploads; fail or resend verifications whose job died or was lost."""
    uploads.tidy_uploads(session)


@job("catalog.convert_to_safetensors", priority=Priority.LOW, max_attempts=3)
def convert_to_safetensors(session: Session, *, file_id: int) -> None:
    """Convert a clean pickle checkpoint to safetensors and record the new file."""
    convert.convert_to_safetensors(session, file_id=file_id)


# --- statistics -------------------------------------------------------------------------------------------------


@periodic("catalog.aggregate_stats", cron="* * * * *", priority=Priority.LOW)
def aggregate_stats(session: Session) -> None:
    """Count recorded events (downloads, and any other registered metric) into the daily rows and all-time
    counters, then drop counted events that can no longer be duplicated. A full batch sends the job again at once
    rather than waiting a minute; every batch is its own transaction, so a crash loses no event and counts none
    twice."""
    counted = stats_aggregation.aggregate(session)
    pruned = stats_aggregation.prune(session)
    if counted or pruned:
        log.info("statistics aggregated", extra={"counted": counted, "pruned": pruned})
    if counted == stats_aggregation.AGGREGATE_BATCH or pruned == stats_aggregation.PRUNE_BATCH:
        aggregate_stats.enqueue(session)
