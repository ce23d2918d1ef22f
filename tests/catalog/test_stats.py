"""Download trends: the download endpoint only records an event (in the process's buffer, written within a
second); the job counts each event exactly once (batches, concurrent runs, a run that dies mid-way), per downloader
per version per UTC day; periods are whole UTC days."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from modelyard.catalog import stats, stats_aggregation, stats_buffer
from modelyard.catalog.models import Model, ModelVersion
from modelyard.catalog.stats import Period, StatDaily, StatEvent
from modelyard.core.jobs import Job, JobStatus, enqueue
from modelyard.core.jobs.runner import execute
from modelyard.core.runtime import Runtime
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import create_api_key, create_user

DAY = date(2026, 3, 10)
NOON = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def made(runtime: Runtime) -> ModelFixture:
    return create_model(runtime, create_user(runtime), published=True, versions=2)


def record(runtime: Runtime, version_id: int, actor: str, when: datetime = NOON) -> None:
    with runtime.db.transaction() as session:
        stats.record(session, stats.VERSION_DOWNLOADS, entity_id=version_id, actor=actor, now=when)


def aggregate_all(runtime: Runtime, *, batch: int = stats_aggregation.AGGREGATE_BATCH) -> int:
    total = 0
    while True:
        with runtime.db.transaction() as session:
            counted = stats_aggregation.aggregate(session, batch=batch)
        total += counted
        if counted == 0:
            return total


def counts(runtime: Runtime, made: ModelFixture) -> tuple[int, list[int]]:
    """The model's all-time downloads and its versions', as stored."""
    with runtime.db.session() as session:
        model = session.get(Model, made.id)
        assert model is not None
        versions = [session.get(ModelVersion, version_id) for version_id in made.version_ids]
        return model.download_count, [version.download_count for version in versions if version is not None]


def daily(runtime: Runtime, entity: str, entity_id: int) -> dict[date, int]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(StatDaily.day, StatDaily.count).where(
                StatDaily.entity == entity, StatDaily.metric == "downloads", StatDaily.entity_id == entity_id
            )
        )
        return {day: count for day, count in rows}


def in_period(runtime: Runtime, period: Period, today: date) -> tuple[dict[int, int], dict[int, int]]:
    """Downloads per version and per model in `period`, through the queries the listing uses."""
    with runtime.db.session() as session:
        versions = stats.downloads_in_period(period, today=today)
        models = stats.model_downloads_in_period(period, today=today)
        per_version = {row.version_id: row.downloads for row in session.execute(select(versions))}
        per_model = {row.model_id: row.downloads for row in session.execute(select(models))}
    return per_version, per_model


# --- the request records, the job counts ------------------------------------------------------------------------


def test_a_download_is_an_event_counted_by_the_job_not_by_the_request(runtime, client, made):
    user_key = create_api_key(runtime, create_user(runtime))
    url = f"/api/download/models/{made.version_ids[0]}"
    for _ in range(3):
        assert client.get(url, follow_redirects=False).status_code == 307
    assert client.get(f"{url}?token={user_key}", follow_redirects=False).status_code == 307

    assert counts(runtime, made) == (0, [0, 0])  # nothing counted inside the request
    assert stats_buffer.buffered(runtime).flush() == 2  # the address once, the user once
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(StatEvent)) == 2  # the address once, the user once

    with runtime.db.transaction() as session:
        job_id = enqueue(session, "catalog.aggregate_stats").id
    execute(runtime, job_id)
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.succeeded
    assert counts(runtime, made) == (2, [2, 0])
    today = stats.utc_today()
    assert daily(runtime, "model_version", made.version_ids[0]) == {today: 2}
    assert daily(runtime, "model", made.id) == {today: 2}


def test_a_downloader_counts_once_per_version_per_utc_day(runtime, made):
    first, second = made.version_ids
    record(runtime, first, "user:1", datetime(2026, 3, 10, 0, 0, tzinfo=UTC))
    record(runtime, first, "user:1", datetime(2026, 3, 10, 23, 59, 59, 999999, tzinfo=UTC))
    record(runtime, second, "user:1", NOON)  # another version: counts
    aggregate_all(runtime)
    record(runtime, first, "user:1", NOON)  # the same day, after the job ran: still the same download
    record(runtime, first, "user:1", datetime(2026, 3, 11, 0, 0, tzinfo=UTC))  # the next UTC day: counts
    aggregate_all(runtime)
    assert daily(runtime, "model_version", first) == {DAY: 1, date(2026, 3, 11): 1}
    assert daily(runtime, "model", made.id) == {DAY: 2, date(2026, 3, 11): 1}
    assert counts(runtime, made) == (3, [2, 1])


def test_many_downloads_in_small_batches_are_each_counted_once(runtime, made):
    first, second = made.version_ids
    for n in range(120):
        record(runtime, first if n % 3 else second, f"ip:{n}", NOON + timedelta(days=n % 4))
    assert aggregate_all(runtime, batch=7) == 120
    assert aggregate_all(runtime, batch=7) == 0  # and again: nothing left to count
    assert counts(runtime, made) == (120, [80, 40])
    assert sum(daily(runtime, "model_version", first).values()) == 80
    assert sum(daily(runtime, "model", made.id).values()) == 120
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(StatEvent).where(~StatEvent.counted)) == 0


def test_concurrent_runs_of_the_job_count_each_event_once(runtime, made):
    first, second = made.version_ids
    for n in range(300):
        record(runtime, first if n % 2 else second, f"ip:{n}", NOON + timedelta(days=n % 3))
    workers = 4
    barrier = threading.Barrier(workers)
    counted: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            counted.append(aggregate_all(runtime, batch=11))
        except BaseException as exc:  # reported below; a thread's exception would otherwise vanish
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sum(counted) == 300
    assert counts(runtime, made) == (300, [150, 150])
    assert sum(daily(runtime, "model", made.id).values()) == 300


def test_events_recorded_while_the_job_runs_are_counted_once(runtime, made):
    version = made.version_ids[0]
    done = threading.Event()

    def downloads() -> None:
        for n in range(150):
            record(runtime, version, f"ip:{n}")
        done.set()

    writer = threading.Thread(target=downloads)
    writer.start()
    while not done.is_set():
        aggregate_all(runtime, batch=5)
    writer.join()
    aggregate_all(runtime)
    assert counts(runtime, made) == (150, [150, 0])


@pytest.fixture
def failing_metric(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """A second metric whose all-time hook fails while `fail[0]` holds: aggregated after downloads in the same
    batch, so the job dies after it has written download counts in its transaction."""
    fail = [True]

    def on_counted(session, totals) -> None:
        if fail[0]:
            raise RuntimeError("the disk is full")

    metric = stats.Metric("zz_test", "views", on_counted=on_counted)
    monkeypatch.setitem(stats.METRICS, metric.key, metric)
    yield fail


def test_a_job_that_dies_mid_way_counts_nothing_and_its_rerun_counts_everything_once(runtime, made, failing_metric):
    version = made.version_ids[0]
    for n in range(5):
        record(runtime, version, f"ip:{n}")
    with runtime.db.transaction() as session:
        stats.record(session, stats.METRICS[("zz_test", "views")], entity_id=1, actor="ip:0", now=NOON)
        job_id = enqueue(session, "catalog.aggregate_stats").id
    execute(runtime, job_id)
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.dead and "disk is full" in (job.last_error or "")
        assert session.scalar(select(func.count()).select_from(StatEvent).where(~StatEvent.counted)) == 6
    assert counts(runtime, made) == (0, [0, 0])
    assert daily(runtime, "model_version", version) == {}

    failing_metric[0] = False
    with runtime.db.transaction() as session:
        job_id = enqueue(session, "catalog.aggregate_stats").id
    execute(runtime, job_id)
    execute(runtime, job_id)  # delivered twice: the second delivery finds the job done
    assert counts(runtime, made) == (5, [5, 0])
    assert daily(runtime, "model_version", version) == {DAY: 5}


def test_a_transaction_abandoned_after_claiming_leaves_the_events_for_the_next_run(runtime, made):
    version = made.version_ids[0]
    for n in range(4):
        record(runtime, version, f"ip:{n}")
    session = runtime.db.session(write=True)
    try:
        assert stats_aggregation.aggregate(session) == 4
        session.rollback()  # what the database sees when the process dies before committing
    finally:
        session.close()
    assert counts(runtime, made) == (0, [0, 0])
    assert aggregate_all(runtime) == 4
    assert counts(runtime, made) == (4, [4, 0])


def test_pruning_drops_only_counted_events_older_than_yesterday(runtime, made):
    version = made.version_ids[0]
    today = datetime(2026, 3, 10, 8, tzinfo=UTC)
    for days_ago in (3, 2, 1, 0):
        record(runtime, version, "ip:counted", today - timedelta(days=days_ago))
    aggregate_all(runtime)
    record(runtime, version, "ip:late", today - timedelta(days=3))  # recorded, not yet counted
    with runtime.db.transaction() as session:
        assert stats_aggregation.prune(session, now=today) == 2
    with runtime.db.session() as session:
        left = session.execute(select(StatEvent.day, StatEvent.actor).order_by(StatEvent.day, StatEvent.actor))
        assert [(day.isoformat(), actor) for day, actor in left] == [
            ("2026-03-07", "ip:late"),
            ("2026-03-09", "ip:counted"),
            ("2026-03-10", "ip:counted"),
        ]
    record(runtime, version, "ip:counted", today)  # still recognised today after pruning
    assert aggregate_all(runtime) == 1  # the late one
    assert counts(runtime, made)[1][0] == 5


# --- periods ----------------------------------------------------------------------------------------------------


def test_period_names_are_civitais():
    assert [period.value for period in Period] == ["Day", "Week", "Month", "Year", "AllTime"]
    assert Period("Week") is Period.Week
    with pytest.raises(ValueError):
        Period("week")


@pytest.mark.parametrize(
    ("period", "first_day_inside"),
    [(Period.Day, 0), (Period.Week, 6), (Period.Month, 29), (Period.Year, 364)],
)
def test_a_period_is_whole_utc_days_ending_today(runtime, made, period, first_day_inside):
    version = made.version_ids[0]
    today = date(2026, 3, 10)
    inside = datetime.combine(today - timedelta(days=first_day_inside), datetime.min.time(), UTC)
    record(runtime, version, "ip:first-moment-inside", inside)
    record(runtime, version, "ip:last-moment-outside", inside - timedelta(microseconds=1))
    record(runtime, version, "ip:tomorrow", inside + timedelta(days=first_day_inside + 1))
    aggregate_all(runtime)
    per_version, per_model = in_period(runtime, period, today)
    assert per_version == {version: 1}
    assert per_model == {made.id: 1}


def test_period_totals_per_version_and_per_model(runtime, made):
    first, second = made.version_ids
    today = date(2026, 3, 10)
    at = datetime.combine(today, datetime.min.time(), UTC)
    for n, days_ago in enumerate([0, 0, 3, 20, 200, 400]):
        record(runtime, first, f"ip:{n}", at - timedelta(days=days_ago))
    record(runtime, second, "ip:x", at - timedelta(days=5))
    aggregate_all(runtime)
    expected = {
        Period.Day: ({first: 2}, 2),
        Period.Week: ({first: 3, second: 1}, 4),
        Period.Month: ({first: 4, second: 1}, 5),
        Period.Year: ({first: 5, second: 1}, 6),
        Period.AllTime: ({first: 6, second: 1}, 7),
    }
    for period, (versions, model_total) in expected.items():
        per_version, per_model = in_period(runtime, period, today)
        assert {key: value for key, value in per_version.items() if value} == versions, period
        assert per_model.get(made.id) == model_total, period


def test_daily_series_lists_the_days_that_have_downloads(runtime, made):
    first, second = made.version_ids
    record(runtime, first, "ip:a", NOON)
    record(runtime, first, "ip:b", NOON)
    record(runtime, first, "ip:a", NOON + timedelta(days=2))
    record(runtime, second, "ip:a", NOON - timedelta(days=9))  # before the range
    aggregate_all(runtime)
    with runtime.db.session() as session:
        series = stats.daily_series(
            session, stats.VERSION_DOWNLOADS, [first, second], first=DAY - timedelta(days=1), last=DAY + timedelta(3)
        )
    assert series == {first: {DAY: 2, DAY + timedelta(days=2): 1}, second: {}}


# --- the buffer a request appends to ----------------------------------------------------------------------------


def test_the_buffer_writes_each_event_once_and_keeps_them_through_a_database_outage(runtime, made, tmp_path):
    """A buffer whose database has no events table yet (a real failure) keeps its events and writes them once
    the table exists."""
    import dataclasses

    from modelyard.core.db import Database
    from modelyard.core.migrate import upgrade

    settings = runtime.settings.model_copy(update={"data_dir": tmp_path, "database_url": None})
    db = Database(settings)
    try:
        buffer = stats_buffer.EventBuffer(dataclasses.replace(runtime, db=db), flush_seconds=3600)
        for actor in ("ip:a", "ip:b", "ip:a"):
            buffer.add(stats.VERSION_DOWNLOADS, entity_id=made.version_ids[0], actor=actor, now=NOON)
        assert buffer.pending() == 2
        assert buffer.flush() == 0  # no such table: logged, kept
        assert buffer.pending() == 2
        upgrade(settings, db.engine)
        buffer.add(stats.VERSION_DOWNLOADS, entity_id=made.version_ids[0], actor="ip:c", now=NOON)
        buffer.close()  # a stopping process writes what is left
        assert buffer.pending() == 0
        with db.session() as session:
            rows = session.execute(select(StatEvent.actor).order_by(StatEvent.actor)).scalars().all()
        assert rows == ["ip:a", "ip:b", "ip:c"]
    finally:
        db.dispose()


def test_a_full_buffer_drops_new_events_and_says_how_many(runtime, made, monkeypatch):
    monkeypatch.setattr(stats_buffer, "MAX_PENDING", 3)
    buffer = stats_buffer.EventBuffer(runtime, flush_seconds=3600)
    for n in range(5):
        buffer.add(stats.VERSION_DOWNLOADS, entity_id=made.version_ids[0], actor=f"ip:{n}")
    assert (buffer.pending(), buffer.dropped) == (3, 2)
    buffer.close()
    assert aggregate_all(runtime) == 3


def test_the_buffer_writes_by_itself_within_its_interval(runtime, made):
    buffer = stats_buffer.EventBuffer(runtime, flush_seconds=0.05)
    try:
        buffer.add(stats.VERSION_DOWNLOADS, entity_id=made.version_ids[0], actor="ip:a")
        for _ in range(200):  # the thread's own tick, not a flush from here
            if buffer.pending() == 0:
                break
            threading.Event().wait(0.05)
        assert buffer.pending() == 0
    finally:
        buffer.close()
    assert aggregate_all(runtime) == 1
