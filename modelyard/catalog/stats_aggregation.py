"""Counting recorded events (`catalog.stats`): the step the job `catalog.aggregate_stats` runs every minute, and
the pruning of events that can no longer be duplicated.

Exactly once: a batch of events is marked counted and added to the daily rows and all-time counters in the
caller's transaction (the job's), so the marks and the sums commit together or not at all; a job that dies
mid-way commits nothing and the next run finds the same events uncounted. Two runs at once take disjoint
batches (PostgreSQL: `FOR UPDATE SKIP LOCKED`, and the `NOT counted` condition re-checked after a lock wait;
SQLite: one writer at a time). Rows are written in key order, so concurrent runs never deadlock.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import delete, not_, select, tuple_, update
from sqlalchemy.orm import Session

from modelyard.catalog.stats import METRICS, Metric, StatDaily, StatEvent, dialect_insert, utc_today
from modelyard.core.db import affected_rows

AGGREGATE_BATCH = 2000
PRUNE_BATCH = 10_000


def aggregate(session: Session, *, batch: int = AGGREGATE_BATCH) -> int:
    """Count up to `batch` uncounted events into the daily rows and all-time counters; returns how many.

    Everything happens in the caller's transaction, so an event's mark and its count commit together or not at
    all. Concurrent runs take disjoint events: on PostgreSQL the batch is chosen with `SKIP LOCKED`, and the
    `NOT counted` condition of the UPDATE is checked again after any row lock wait; SQLite has one writer."""
    key = (StatEvent.day, StatEvent.entity, StatEvent.metric, StatEvent.entity_id, StatEvent.actor)
    pending = select(*key).where(not_(StatEvent.counted)).order_by(StatEvent.day).limit(batch)
    if session.get_bind().dialect.name == "postgresql":
        pending = pending.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(StatEvent)
        .where(tuple_(*key).in_(pending), not_(StatEvent.counted))
        .values(counted=True)
        .returning(StatEvent.entity, StatEvent.metric, StatEvent.entity_id, StatEvent.day)
        .execution_options(synchronize_session=False)
    ).all()
    grouped: dict[tuple[str, str], Counter[tuple[int, date]]] = defaultdict(Counter)
    for entity, name, entity_id, day in claimed:
        grouped[(entity, name)][(entity_id, day)] += 1
    for (entity, name), counts in sorted(grouped.items()):
        _count(session, METRICS.get((entity, name)) or Metric(entity, name), counts)
    return len(claimed)


def _count(session: Session, metric: Metric, counts: Counter[tuple[int, date]]) -> None:
    _add_daily(session, metric.entity, metric.name, counts)
    ids = {entity_id for entity_id, _ in counts}
    for rollup in metric.rollups:
        parents = rollup.parents(session, ids)
        rolled: Counter[tuple[int, date]] = Counter()
        for (entity_id, day), count in counts.items():
            if entity_id in parents:
                rolled[(parents[entity_id], day)] += count
        _add_daily(session, rollup.entity, metric.name, rolled)
    if metric.on_counted is not None:
        totals: Counter[int] = Counter()
        for (entity_id, _), count in counts.items():
            totals[entity_id] += count
        metric.on_counted(session, totals)


def _add_daily(session: Session, entity: str, name: str, counts: Counter[tuple[int, date]]) -> None:
    """Add to the daily rows, creating them as needed; in key order, so that concurrent jobs lock rows in the
    same order and never deadlock."""
    if not counts:
        return
    upsert = dialect_insert(session, StatDaily)
    upsert = upsert.on_conflict_do_update(
        index_elements=[StatDaily.entity, StatDaily.metric, StatDaily.entity_id, StatDaily.day],
        set_={"count": StatDaily.count + upsert.excluded["count"]},
    )
    rows = [
        {"entity": entity, "metric": name, "entity_id": entity_id, "day": day, "count": count}
        for (entity_id, day), count in sorted(counts.items())
    ]
    session.execute(upsert, rows)


def prune(session: Session, *, now: datetime | None = None, batch: int = PRUNE_BATCH) -> int:
    """Delete counted events of days before yesterday: no request can add a duplicate of them any more (an event
    written just after midnight may still carry yesterday). Returns how many were deleted."""
    cutoff = utc_today(now) - timedelta(days=1)
    key = (StatEvent.day, StatEvent.entity, StatEvent.metric, StatEvent.entity_id, StatEvent.actor)
    doomed = select(*key).where(StatEvent.day < cutoff, StatEvent.counted).limit(batch)
    deleted = session.execute(
        delete(StatEvent).where(tuple_(*key).in_(doomed)).execution_options(synchronize_session=False)
    )
    return affected_rows(deleted)
