"""The trending sort's scores, and the metrics that change too often for the outbox (`search.trending`, every
10 minutes).

A model's trend over a window is its engagement, day by day, with exponential time decay: each day's count of
each signal, times the signal's weight, halves every `half_life` days of age, summed over the window's days
(today is age 0). Signals are entries of `SIGNALS`: downloads (`catalog.stats` daily counts) and images posted
to the model's versions today; reactions, comments, collections and tips join as entries of their own, each a
query of (model id, UTC day, count).

The same pass brings the counters the sources fill but nothing queues a change for up to date in bulk: models'
downloads and images, creators' downloads and listed models, tags' uses. Only changed rows are written, in id
order, a chunk per transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.models import Model, ModelVersion
from modelyard.catalog.stats import VERSION_DOWNLOADS, StatDaily, utc_today
from modelyard.core.runtime import Runtime
from modelyard.images.models import Image, Post
from modelyard.images.visibility import ready_images
from modelyard.search.models import SearchDocument
from modelyard.search.sources import models as model_source
from modelyard.search.sources import tags as tag_source
from modelyard.search.sources import users as user_source
from modelyard.search.types import Window

log = logging.getLogger("modelyard.search")

DailyCounts = Callable[[Session, date, date], Iterable[tuple[int, date, int]]]
"""(session, first day, last day) -> (model id, UTC day, count) rows of one signal."""


@dataclass(frozen=True)
class Signal:
    name: str
    weight: float
    daily: DailyCounts


@dataclass(frozen=True)
class WindowShape:
    days: int  # today and the days before it
    half_life: float  # in days


# Each window looks a little past its name (a day's trend keeps yesterday at a quarter) and decays within it.
WINDOWS: dict[Window, WindowShape] = {
    Window.day: WindowShape(days=2, half_life=0.5),
    Window.week: WindowShape(days=7, half_life=2.0),
    Window.month: WindowShape(days=30, half_life=7.0),
}
TREND_COLUMN = {Window.day: "trend_day", Window.week: "trend_week", Window.month: "trend_month"}
WRITE_CHUNK = 1000


def _download_days(session: Session, first: date, last: date) -> Iterable[tuple[int, date, int]]:
    rows = session.execute(
        select(StatDaily.entity_id, StatDaily.day, StatDaily.count).where(
            StatDaily.entity == "model",
            StatDaily.metric == VERSION_DOWNLOADS.name,
            StatDaily.day >= first,
            StatDaily.day <= last,
        )
    )
    return [(model_id, day, int(count)) for model_id, day, count in rows]


def _utc_day(session: Session, column: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite keeps UTC times as text: date() reads the day off it


def _image_days(session: Session, first: date, last: date) -> Iterable[tuple[int, date, int]]:
    day = _utc_day(session, Post.published_at)
    rows = session.execute(
        select(ModelVersion.model_id, day, func.count(Image.id))
        .join(Post, Post.model_version_id == ModelVersion.id)
        .join(Image, Image.post_id == Post.id)
        .where(ready_images(), Post.published_at >= _start_of(first), Post.published_at.is_not(None))
        .group_by(ModelVersion.model_id, day)
    )
    found = []
    for model_id, posted, count in rows:
        posted_day = date.fromisoformat(posted) if isinstance(posted, str) else posted
        if posted_day <= last:
            found.append((model_id, posted_day, int(count)))
    return found


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


SIGNALS: list[Signal] = [
    Signal("downloads", 1.0, _download_days),
    Signal("images", 5.0, _image_days),  # a picture posted with a model says more than one download
]


def trend_scores(session: Session, *, today: date | None = None) -> dict[int, dict[Window, float]]:
    """Each model's score in every window, from every signal (models without engagement are left out)."""
    last = today or utc_today()
    span = max(shape.days for shape in WINDOWS.values())
    first = last - timedelta(days=span - 1)
    scores: dict[int, dict[Window, float]] = defaultdict(lambda: dict.fromkeys(Window, 0.0))
    for signal in SIGNALS:
        for model_id, day, count in signal.daily(session, first, last):
            age = (last - day).days
            for window, shape in WINDOWS.items():
                if 0 <= age < shape.days:
                    scores[model_id][window] += signal.weight * count * 0.5 ** (age / shape.half_life)
    return dict(scores)


# --- writing ----------------------------------------------------------------------------------------------------


def write_changes(
    runtime: Runtime, index: str, columns: Iterable[str], wanted: Mapping[int, Mapping[str, float]]
) -> int:
    """Set `columns` of the index's documents to the wanted values by entity id (0 for an entity not in `wanted`)
    where they differ; returns the documents changed."""
    columns = sorted(columns)
    with runtime.db.session() as session:
        rows = session.execute(
            select(SearchDocument.id, SearchDocument.entity_id, *(getattr(SearchDocument, c) for c in columns)).where(
                SearchDocument.index == index
            )
        ).all()
    changes = []
    for row in rows:
        values = wanted.get(row.entity_id, {})
        new = {column: values.get(column, 0) for column in columns}
        if any(abs(float(getattr(row, column)) - float(new[column])) > 1e-9 for column in columns):
            changes.append({"id": row.id, **new})
    changes.sort(key=lambda change: change["id"])
    for start in range(0, len(changes), WRITE_CHUNK):
        with runtime.db.transaction() as session:
            session.execute(update(SearchDocument), changes[start : start + WRITE_CHUNK])
    return len(changes)


def model_metrics(session: Session, *, today: date | None = None) -> dict[int, dict[str, float]]:
    """Every published model's trend scores, downloads and images."""
    wanted: dict[int, dict[str, float]] = {}
    for model_id, downloads in session.execute(
        select(Model.id, Model.download_count).where(Model.status == ModelStatus.Published)
    ):
        wanted[model_id] = {"downloads": downloads, "images": 0}
    for model_id, images in session.execute(model_source.image_counts_query()):
        if model_id in wanted:
            wanted[model_id]["images"] = images
    for model_id, scores in trend_scores(session, today=today).items():
        if model_id in wanted:
            wanted[model_id].update({TREND_COLUMN[window]: score for window, score in scores.items()})
    return wanted


def refresh(runtime: Runtime, *, today: date | None = None) -> dict[str, int]:
    """One pass: trends and bulk counters of every index that has them. Returns documents changed per index."""
    with runtime.db.session() as session:
        models = model_metrics(session, today=today)
        users = {
            user_id: {"downloads": downloads, "popularity": count}
            for user_id, count, downloads in session.execute(user_source.model_totals_query())
        }
        uses: dict[int, float] = defaultdict(float)
        for query in (tag_source.model_uses_query(), tag_source.image_uses_query()):
            for tag_id, count in session.execute(query):
                uses[tag_id] += count
    changed = {
        "models": write_changes(runtime, "models", ("downloads", "images", *TREND_COLUMN.values()), models),
        "users": write_changes(runtime, "users", ("downloads", "popularity"), users),
        "tags": write_changes(runtime, "tags", ("popularity",), {tag: {"popularity": n} for tag, n in uses.items()}),
    }
    log.info("search trends and counters refreshed", extra={"changed": changed})
    return changed
