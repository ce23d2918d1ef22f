"""Catalog jobs: scheduled publishing (every minute, and at the scheduled time itself) and the purge of deleted
models' files after the retention period."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.catalog import convert, scanning, triggers, uploads  # noqa: F401 - they declare their jobs
from modelyard.catalog.enums import ModelStatus
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
