"""The search domain's periodic jobs: trends every 10 minutes, the reconciler, and the outbox's pruning.

Each works in short transactions of its own, a batch at a time (the job's session stays unused), so that on
SQLite no other writer waits on a whole pass."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelyard.core.db import utcnow
from modelyard.core.jobs import Priority, periodic
from modelyard.core.runtime import get_runtime
from modelyard.search import reconcile, trending
from modelyard.search.models import SearchIndexUpdate

OUTBOX_RETENTION = timedelta(days=1)
PRUNE_BATCH = 5000


@periodic("search.trending", cron="*/10 * * * *")
def refresh_trending(session: Session) -> None:
    """Trend scores of models over a day, a week and a month, and the counters nothing queues (downloads)."""
    trending.refresh(get_runtime())


@periodic("search.reconcile", cron="41 * * * *", priority=Priority.LOW)
def reconcile_indexes(session: Session) -> None:
    """Repair whatever drifted between the indexes and the database."""
    reconcile.reconcile_all(get_runtime())


@periodic("search.prune_outbox", cron="23 * * * *", priority=Priority.LOW)
def prune_outbox(session: Session) -> None:
    """Outbox rows applied more than a day ago go (a day keeps them for anyone tracing a change)."""
    runtime = get_runtime()
    before = utcnow() - OUTBOX_RETENTION
    while True:
        with runtime.db.transaction() as batch:
            old = batch.scalars(
                select(SearchIndexUpdate.id)
                .where(SearchIndexUpdate.processed_at.is_not(None), SearchIndexUpdate.processed_at < before)
                .limit(PRUNE_BATCH)
            ).all()
            if old:
                batch.execute(delete(SearchIndexUpdate).where(SearchIndexUpdate.id.in_(old)))
        if len(old) < PRUNE_BATCH:
            return
