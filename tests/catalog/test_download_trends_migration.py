"""Migration 0010: downloads counted per hour before download trends become daily rows that add up to the
all-time counters, and today's and yesterday's downloaders are remembered, so none is counted twice today."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select

from modelyard.catalog import stats, stats_aggregation
from modelyard.catalog.stats import StatDaily, StatEvent
from modelyard.core.db import UTCDateTime
from modelyard.core.runtime import Runtime
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import create_user

migration: Any = importlib.import_module("modelyard.migrations.versions.0010_download_trends")

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
_old = MetaData()
MODEL_DOWNLOAD = Table(  # as migration 0005 made it (less its foreign key)
    "model_download",
    _old,
    Column("model_version_id", Integer, primary_key=True),
    Column("downloader", String(40), primary_key=True),
    Column("hour", UTCDateTime(), primary_key=True),
)


@pytest.fixture
def old_table(runtime: Runtime) -> Iterator[None]:
    _old.create_all(runtime.db.engine)
    try:
        yield
    finally:
        _old.drop_all(runtime.db.engine)


@pytest.fixture
def made(runtime: Runtime) -> ModelFixture:
    return create_model(runtime, create_user(runtime), published=True, versions=2, with_post=False)


def hour(day: int, at: int) -> datetime:
    return datetime(2026, 3, day, at, tzinfo=UTC)


@pytest.mark.usefixtures("old_table")
def test_counted_hours_become_daily_rows_and_recent_downloaders_stay_known(runtime, made):
    first, second = made.version_ids
    rows = [
        (first, "ip:a", hour(1, 3)),
        (first, "ip:a", hour(1, 4)),  # counted again an hour later, as the old rule did
        (first, "ip:b", hour(1, 23)),
        (second, "ip:a", hour(9, 0)),  # yesterday
        (first, "user:7", hour(10, 8)),  # today
        (first, "user:7", hour(10, 9)),
    ]
    with runtime.db.engine.begin() as connection:
        connection.execute(
            MODEL_DOWNLOAD.insert(), [{"model_version_id": v, "downloader": d, "hour": h} for v, d, h in rows]
        )
        migration.carry_counted_downloads(connection, NOW)

    with runtime.db.session() as session:
        daily = {
            (row.entity, row.entity_id, row.day.isoformat()): row.count
            for row in session.execute(select(StatDaily.entity, StatDaily.entity_id, StatDaily.day, StatDaily.count))
        }
        events = session.execute(select(StatEvent.day, StatEvent.entity_id, StatEvent.actor, StatEvent.counted)).all()
    assert daily == {
        ("model_version", first, "2026-03-01"): 3,
        ("model_version", second, "2026-03-09"): 1,
        ("model_version", first, "2026-03-10"): 2,
        ("model", made.id, "2026-03-01"): 3,
        ("model", made.id, "2026-03-09"): 1,
        ("model", made.id, "2026-03-10"): 2,
    }
    assert sorted(events) == [(date(2026, 3, 9), second, "ip:a", True), (date(2026, 3, 10), first, "user:7", True)]

    # The same downloader today again is no new download; a new one is.
    with runtime.db.transaction() as session:
        stats.record(session, stats.VERSION_DOWNLOADS, entity_id=first, actor="user:7", now=NOW)
        stats.record(session, stats.VERSION_DOWNLOADS, entity_id=first, actor="user:8", now=NOW)
    with runtime.db.transaction() as session:
        assert stats_aggregation.aggregate(session) == 1
