"""Trending: engagement with time decay over a day, a week and a month, written on the model documents by the
periodic job, together with the counters nothing queues (downloads, images)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from modelyard.catalog import stats, stats_aggregation
from modelyard.catalog.stats import utc_today
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from modelyard.search import trending
from modelyard.search.models import SearchDocument
from modelyard.search.rebuild import rebuild_all
from modelyard.search.types import Window
from tests.support.catalog import create_model
from tests.support.factories import create_user


def download(runtime: Runtime, version_id: int, *, times: int, days_ago: int) -> None:
    when = utcnow() - timedelta(days=days_ago)
    with runtime.db.transaction() as session:
        for n in range(times):
            stats.record(session, stats.VERSION_DOWNLOADS, entity_id=version_id, actor=f"fan{n}", now=when)
    with runtime.db.transaction() as session:
        while stats_aggregation.aggregate(session):
            pass


def trends(runtime: Runtime) -> dict[int, tuple[float, float, float, int]]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(
                SearchDocument.entity_id,
                SearchDocument.trend_day,
                SearchDocument.trend_week,
                SearchDocument.trend_month,
                SearchDocument.downloads,
            ).where(SearchDocument.index == "models")
        )
        return {entity_id: (day, week, month, downloads) for entity_id, day, week, month, downloads in rows}


def test_a_model_downloaded_today_trends_above_one_downloaded_more_a_month_ago(runtime: Runtime) -> None:
    owner = create_user(runtime)
    fresh = create_model(runtime, owner, name="Fresh", published=True, with_post=False)
    old = create_model(runtime, owner, name="Old", published=True, with_post=False)
    quiet = create_model(runtime, owner, name="Quiet", published=True, with_post=False)
    download(runtime, fresh.version_ids[0], times=20, days_ago=0)
    download(runtime, old.version_ids[0], times=60, days_ago=25)
    rebuild_all(runtime)

    changed = trending.refresh(runtime)

    found = trends(runtime)
    assert changed["models"] >= 2
    assert found[fresh.id][0] > found[old.id][0] == 0  # the day: only today's downloads count
    assert found[fresh.id][1] > found[old.id][1] == 0  # the week
    assert found[old.id][2] > 0  # a month still sees the old burst, decayed
    assert found[quiet.id][:3] == (0, 0, 0)
    assert found[fresh.id][3] == 20 and found[old.id][3] == 60  # downloads refreshed in bulk, no outbox


def test_decay_halves_a_days_weight_every_half_life(runtime: Runtime) -> None:
    owner = create_user(runtime)
    today = create_model(runtime, owner, published=True, with_post=False)
    earlier = create_model(runtime, owner, published=True, with_post=False)
    download(runtime, today.version_ids[0], times=8, days_ago=0)
    download(runtime, earlier.version_ids[0], times=8, days_ago=2)
    with runtime.db.session() as session:
        scores = trending.trend_scores(session, today=utc_today())
    week = trending.WINDOWS[Window.week]
    assert scores[today.id][Window.week] == 8
    assert abs(scores[earlier.id][Window.week] - 8 * 0.5 ** (2 / week.half_life)) < 1e-9
    assert scores[earlier.id][Window.day] == 0  # two days back is past the day's window


def test_a_later_signal_joins_as_an_entry_of_the_list(runtime: Runtime) -> None:
    owner = create_user(runtime)
    model = create_model(runtime, owner, published=True)
    day = utc_today()
    extra = trending.Signal("tips", 3.0, lambda _session, _first, _last: [(model.id, day, 2)])
    trending.SIGNALS.append(extra)
    try:
        with runtime.db.session() as session:
            scores = trending.trend_scores(session, today=day)
    finally:
        trending.SIGNALS.remove(extra)
    # Its one showcase image, posted today, counts too (weight 5).
    assert scores[model.id][Window.day] == 3.0 * 2 + trending.SIGNALS[1].weight * 1
