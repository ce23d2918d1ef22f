"""Usage statistics: what happens to an entity (a version downloaded; later an image viewed, a model used for a
generation), recorded as events and counted per entity per UTC day in the background.

The shape is generic, `(entity, metric, day, count)`; each counter is one `Metric` declaration:

- Recording. `record(session, metric, entity_id=..., actor=...)` inserts an event into `stat_event`, keyed by
  (day, entity, metric, entity id, actor): a second event by the same actor on the same day is the same row, so
  each actor counts once per entity per UTC day (the dedup rule), and no writer touches a counter row every
  other writer also writes. A request does less still: `stats_buffer.buffered(runtime).add(...)` appends to the
  process's buffer in memory, which a thread writes with `record_many` about once a second.
- Counting. `stats_aggregation.aggregate` (the job `catalog.aggregate_stats`, every minute) marks a batch of
  events counted and adds them to `stat_daily`, to their rollups' rows (a version's downloads are also its
  model's) and to the metric's all-time counters (`ModelVersion.download_count`, `Model.download_count`), in
  one transaction: each event is counted exactly once. `stats_aggregation.prune` drops counted events of days
  that can no longer gain a duplicate.
- Reading (the public API's `period`, the listing's download sorts, the owners' statistics pages; keep these
  signatures stable):
  - `downloads_in_period(period) -> Subquery(model_id, version_id, downloads)`: per version;
  - `model_downloads_in_period(period) -> Subquery(model_id, downloads)`: per model. Both hold rows only for
    entities with downloads in the period (outer-join them, `coalesce(..., 0)`); `Period.AllTime` reads the
    all-time counters, which the same job keeps;
  - `model_downloads_since(first_day)`: a model's downloads from a day on, correlated on `Model.id`, what a
    listing sorts by (`first_day_param()` leaves the day to execution time, `period_values(period)` gives it);
  - `period_totals(session, metric, entity, ids)`: each entity's count in every period at once;
  - `daily_series(session, metric, ids, first=..., last=...)`: counts day by day, for charts and CSV.

Periods are whole UTC days ending today: Day = today, Week = the last 7 days, Month = 30, Year = 365.

Adding a counter (views of an image, say): declare `IMAGE_VIEWS = register(Metric("image", "views"))` where the
entity lives, record with `stats_buffer.buffered(runtime).add(IMAGE_VIEWS, entity_id=..., actor=...)`, and give
the metric `rollups` (parents that count it too) and an `on_counted` hook if the entity keeps an all-time column.
The job counts every registered metric; the queries take the metric. See docs/decisions/0017-download-trends.md.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    Date,
    Index,
    Integer,
    String,
    Subquery,
    bindparam,
    case,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.db import Base, utcnow

# --- storage ------------------------------------------------------------------------------------------------------


class StatEvent(Base):
    """Something counted once per actor per entity per UTC day, waiting for (or done with) the aggregation job.

    The key starts with the day so that inserts land at the end of the index and pruning is a range delete."""

    __tablename__ = "stat_event"
    __table_args__ = (
        Index(
            "ix_stat_event_uncounted",
            "day",
            # Spelled as each dialect renders `not_(StatEvent.counted)`, so that the planner matches it.
            postgresql_where=text("NOT counted"),
            sqlite_where=text("counted = 0"),
        ),
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    entity: Mapped[str] = mapped_column(String(24), primary_key=True)
    metric: Mapped[str] = mapped_column(String(24), primary_key=True)
    entity_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # Who did it: "user:<id>", or a keyed hash of an address for anonymous visitors (never the address).
    actor: Mapped[str] = mapped_column(String(40), primary_key=True)
    counted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class StatDaily(Base):
    """How many times `metric` happened to one entity on one UTC day (distinct actors, per the dedup rule)."""

    __tablename__ = "stat_daily"
    __table_args__ = (
        # A period's totals read (entity, metric, day range) and sum `count` per id without touching the table.
        Index("ix_stat_daily_period", "entity", "metric", "day", "entity_id", "count"),
    )

    entity: Mapped[str] = mapped_column(String(24), primary_key=True)
    metric: Mapped[str] = mapped_column(String(24), primary_key=True)
    entity_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


# --- metrics ------------------------------------------------------------------------------------------------------

Counts = Mapping[int, int]
"""Entity id → how many new events were counted for it in one aggregation batch."""


@dataclass(frozen=True)
class Rollup:
    """A parent that also counts what happens to the entity: `parents` maps entity ids to parent ids."""

    entity: str
    parents: Callable[[Session, Iterable[int]], Mapping[int, int]]


@dataclass(frozen=True)
class Metric:
    entity: str
    name: str
    rollups: tuple[Rollup, ...] = ()
    # Keeps denormalized all-time counters right, in the same transaction as the daily rows.
    on_counted: Callable[[Session, Counts], None] | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.entity, self.name)


METRICS: dict[tuple[str, str], Metric] = {}


def register(metric: Metric) -> Metric:
    """Make the aggregation job count `metric`; declare each metric once, at import time."""
    METRICS[metric.key] = metric
    return metric


def _models_of_versions(session: Session, version_ids: Iterable[int]) -> Mapping[int, int]:
    rows = session.execute(select(ModelVersion.id, ModelVersion.model_id).where(ModelVersion.id.in_(version_ids)))
    return {version_id: model_id for version_id, model_id in rows}


def _bump_download_counts(session: Session, counts: Counts) -> None:
    """All-time downloads: the versions' and their models', one executemany each, in id order (two jobs never wait
    on each other in a circle)."""
    owners = _models_of_versions(session, counts)
    models: Counter[int] = Counter()
    for version_id, added in counts.items():
        if version_id in owners:
            models[owners[version_id]] += added
    connection = session.connection()  # Core executemany: one round trip's worth per batch, not one per row
    for entity, added_by_id in ((ModelVersion, counts), (Model, models)):
        if added_by_id:
            bump = (
                update(entity)
                .where(entity.id == bindparam("row_id"))
                .values(download_count=entity.download_count + bindparam("added"))
            )
            connection.execute(bump, [{"row_id": key, "added": added_by_id[key]} for key in sorted(added_by_id)])


VERSION_DOWNLOADS = register(
    Metric(
        "model_version",
        "downloads",
        rollups=(Rollup("model", _models_of_versions),),
        on_counted=_bump_download_counts,
    )
)


# --- recording ----------------------------------------------------------------------------------------------------


def dialect_insert(session: Session, table: type[Base]) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


EventKey = tuple[date, str, str, int, str]
"""An event as `record_many` takes it: (day, entity, metric name, entity id, actor)."""
RECORD_CHUNK = 500


def event_key(metric: Metric, *, entity_id: int, actor: str, now: datetime | None = None) -> EventKey:
    return (utc_today(now), metric.entity, metric.name, entity_id, actor[:40])


def record(session: Session, metric: Metric, *, entity_id: int, actor: str, now: datetime | None = None) -> None:
    """Note that `actor` did `metric` to the entity today: one insert, ignored when the same actor already did it
    to the same entity today (UTC); `stats_aggregation.aggregate` counts it. Requests use the per-process buffer
    (`catalog.stats_buffer`), which writes its events with `record_many` about once a second."""
    record_many(session, [event_key(metric, entity_id=entity_id, actor=actor, now=now)])


def record_many(session: Session, events: Iterable[EventKey]) -> None:
    """Insert events, a few hundred rows per statement; those already recorded are skipped."""
    names = ("day", "entity", "metric", "entity_id", "actor")
    rows = [dict(zip(names, event, strict=True)) | {"counted": False} for event in events]
    for start in range(0, len(rows), RECORD_CHUNK):
        insert = dialect_insert(session, StatEvent).values(rows[start : start + RECORD_CHUNK])
        session.execute(insert.on_conflict_do_nothing())


# --- periods ------------------------------------------------------------------------------------------------------


class Period(enum.StrEnum):
    """Civitai's `period` values. Each is a run of whole UTC days ending today."""

    Day = "Day"
    Week = "Week"
    Month = "Month"
    Year = "Year"
    AllTime = "AllTime"

    @property
    def days(self) -> int | None:
        """How many UTC days the period spans, today included; None for all time."""
        return _PERIOD_DAYS[self]

    def first_day(self, today: date) -> date | None:
        """The first UTC day inside the period, for a period ending on `today`."""
        days = self.days
        return None if days is None else today - timedelta(days=days - 1)


_PERIOD_DAYS: dict[Period, int | None] = {
    Period.Day: 1,
    Period.Week: 7,
    Period.Month: 30,
    Period.Year: 365,
    Period.AllTime: None,
}


def utc_today(now: datetime | None = None) -> date:
    return (now or utcnow()).date()


# --- queries ------------------------------------------------------------------------------------------------------


def _period_sums(metric: Metric, entity: str, period: Period, today: date) -> Subquery:
    first = period.first_day(today)
    assert first is not None
    return (
        select(StatDaily.entity_id, func.sum(StatDaily.count).label("count"))
        .where(
            StatDaily.entity == entity,
            StatDaily.metric == metric.name,
            StatDaily.day >= first,
            StatDaily.day <= today,
        )
        .group_by(StatDaily.entity_id)
        .subquery()
    )


def downloads_in_period(period: Period, *, today: date | None = None) -> Subquery:
    """Downloads per version in `period` (ending `today`, default the current UTC day), as a subquery with the
    columns `model_id`, `version_id`, `downloads`; only versions with downloads in the period have a row. The
    days are fixed when it is built: a statement kept and run again later wants `model_downloads_since`."""
    if period is Period.AllTime:
        return select(
            ModelVersion.model_id,
            ModelVersion.id.label("version_id"),
            ModelVersion.download_count.label("downloads"),
        ).subquery("version_downloads")
    sums = _period_sums(VERSION_DOWNLOADS, "model_version", period, today or utc_today())
    return (
        select(ModelVersion.model_id, ModelVersion.id.label("version_id"), sums.c.count.label("downloads"))
        .join(sums, sums.c.entity_id == ModelVersion.id)
        .subquery("version_downloads")
    )


def model_downloads_in_period(period: Period, *, today: date | None = None) -> Subquery:
    """Downloads per model (over all its versions) in `period`, as a subquery with the columns `model_id`,
    `downloads`; only models with downloads in the period have a row. For `AllTime`, sorting by the indexed
    `Model.download_count` column directly is faster and gives the same order."""
    if period is Period.AllTime:
        return select(Model.id.label("model_id"), Model.download_count.label("downloads")).subquery("model_downloads")
    sums = _period_sums(VERSION_DOWNLOADS, "model", period, today or utc_today())
    return select(sums.c.entity_id.label("model_id"), sums.c.count.label("downloads")).subquery("model_downloads")


def daily_series(
    session: Session, metric: Metric, entity_ids: Iterable[int], *, first: date, last: date
) -> dict[int, dict[date, int]]:
    """Counts per entity per day from `first` to `last` (inclusive); days without events are absent."""
    ids = list(entity_ids)
    series: dict[int, dict[date, int]] = {entity_id: {} for entity_id in ids}
    if not ids:
        return series
    rows = session.execute(
        select(StatDaily.entity_id, StatDaily.day, StatDaily.count).where(
            StatDaily.entity == metric.entity,
            StatDaily.metric == metric.name,
            StatDaily.entity_id.in_(ids),
            StatDaily.day >= first,
            StatDaily.day <= last,
        )
    )
    for entity_id, day, count in rows:
        series[entity_id][day] = count
    return series


PERIOD_FIRST_DAY = "period_first_day"
"""The bind parameter `first_day_param()` names, valued by `period_values`."""


def first_day_param() -> BindParameter[date]:
    """The first day of a period, given at execution: a statement built once stays right after midnight."""
    return bindparam(PERIOD_FIRST_DAY, type_=Date)


def period_values(period: Period | None, *, today: date | None = None) -> dict[str, date]:
    """The value of `first_day_param()` for `period` ending today; nothing for all time (or no period)."""
    first = period.first_day(today or utc_today()) if period is not None else None
    return {} if first is None else {PERIOD_FIRST_DAY: first}


def model_downloads_since(first_day: date | BindParameter[date]) -> ColumnElement[int]:
    """A model's downloads (all its versions) from `first_day` on, 0 when none: a scalar subquery correlated on
    `Model.id`, read through the primary key of `stat_daily` (an index range per model)."""
    total = (
        select(func.coalesce(func.sum(StatDaily.count), 0))
        .where(
            StatDaily.entity == "model",
            StatDaily.metric == VERSION_DOWNLOADS.name,
            StatDaily.entity_id == Model.id,
            StatDaily.day >= first_day,
        )
        .correlate(Model)
        .scalar_subquery()
    )
    return total


def period_totals(
    session: Session, metric: Metric, entity: str, entity_ids: Iterable[int], *, today: date | None = None
) -> dict[int, dict[Period, int]]:
    """Each entity's count in every period (AllTime = every daily row), in one query; `entity` is the metric's
    own entity or one of its rollups ("model" for version downloads). Entities without rows get zeros."""
    ids = list(entity_ids)
    totals = {entity_id: dict.fromkeys(Period, 0) for entity_id in ids}
    if not ids:
        return totals
    end = today or utc_today()
    columns = [
        func.sum(case((StatDaily.day >= period.first_day(end), StatDaily.count), else_=0)).label(period.value)
        for period in Period
        if period is not Period.AllTime
    ]
    rows = session.execute(
        select(StatDaily.entity_id, *columns, func.sum(StatDaily.count).label(Period.AllTime.value))
        .where(
            StatDaily.entity == entity,
            StatDaily.metric == metric.name,
            StatDaily.entity_id.in_(ids),
            StatDaily.day <= end,
        )
        .group_by(StatDaily.entity_id)
    )
    for row in rows:
        totals[row.entity_id] = {period: int(getattr(row, period.value) or 0) for period in Period}
    return totals
