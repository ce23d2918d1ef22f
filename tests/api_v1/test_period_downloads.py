"""`period` with `periodMode=stats` on GET /api/v1/models: `stats.downloadCount` (model and versions) and the
download sorts count the period's downloads (catalog.stats), over every model whatever its age; keyset cursors
page through that order. Without `periodMode` (Civitai's default, `published`), a period bounds first
publication and the counts are all-time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from modelyard.catalog import stats, stats_aggregation
from modelyard.catalog.models import Model
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import create_user


def downloads(runtime: Runtime, version_id: int, *, days_ago: int, people: int) -> None:
    moment = datetime.combine(stats.utc_today(), time(12), UTC) - timedelta(days=days_ago)
    with runtime.db.transaction() as session:
        for n in range(people):
            actor = f"ip:{version_id}:{days_ago}:{n}"
            stats.record(session, stats.VERSION_DOWNLOADS, entity_id=version_id, actor=actor, now=moment)
    while True:
        with runtime.db.transaction() as session:
            if not stats_aggregation.aggregate(session):
                return


@pytest.fixture
def catalog(runtime: Runtime) -> dict[str, ModelFixture]:
    """`classic`: old, downloaded a lot long ago and a little this week; `rising`: old too, downloaded most this
    week; `fresh`: published today, two downloads today; `quiet`: old, never downloaded this year."""
    owner = create_user(runtime)
    made = {
        name: create_model(runtime, owner, name=name, published=True, versions=2, with_post=False)
        for name in ("classic", "rising", "fresh", "quiet")
    }
    with runtime.db.transaction() as session:
        for name in ("classic", "rising", "quiet"):
            moved = update(Model).where(Model.id == made[name].id).values(published_at=utcnow() - timedelta(days=800))
            session.execute(moved)
    downloads(runtime, made["classic"].version_ids[0], days_ago=100, people=50)
    downloads(runtime, made["classic"].version_ids[1], days_ago=2, people=1)
    downloads(runtime, made["rising"].version_ids[0], days_ago=3, people=4)
    downloads(runtime, made["rising"].version_ids[1], days_ago=0, people=2)
    downloads(runtime, made["fresh"].version_ids[0], days_ago=0, people=2)
    downloads(runtime, made["quiet"].version_ids[0], days_ago=500, people=9)
    return made


def listing(client, query: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/models?{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def names_and_counts(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(item["name"], item["stats"]["downloadCount"]) for item in body["items"]]


def test_stats_mode_sorts_and_counts_by_the_periods_downloads(client, catalog):
    week = listing(client, "sort=Most Downloaded&period=Week&periodMode=stats")
    assert names_and_counts(week) == [("rising", 6), ("fresh", 2), ("classic", 1), ("quiet", 0)]
    rising = next(item for item in week["items"] if item["name"] == "rising")
    versions = {version["id"]: version["stats"]["downloadCount"] for version in rising["modelVersions"]}
    assert versions == {catalog["rising"].version_ids[0]: 4, catalog["rising"].version_ids[1]: 2}

    day = listing(client, "sort=Most Downloaded&period=Day&periodMode=stats")
    assert names_and_counts(day)[:2] in ([("rising", 2), ("fresh", 2)], [("fresh", 2), ("rising", 2)])
    year = listing(client, "sort=Most Downloaded&period=Year&periodMode=stats")
    assert names_and_counts(year) == [("classic", 51), ("rising", 6), ("fresh", 2), ("quiet", 0)]


def test_stats_mode_pages_through_the_periods_order_with_cursors(client, catalog):
    seen, cursor = [], None
    for _ in range(10):
        query = "sort=Most Downloaded&period=Week&periodMode=stats&limit=1" + (f"&cursor={cursor}" if cursor else "")
        body = listing(client, query)
        seen += names_and_counts(body)
        cursor = body["metadata"].get("nextCursor")
        if cursor is None:
            break
    assert seen == [("rising", 6), ("fresh", 2), ("classic", 1), ("quiet", 0)]


def test_without_period_mode_a_period_bounds_publication_and_counts_stay_all_time(client, catalog):
    assert names_and_counts(listing(client, "sort=Most Downloaded&period=Week")) == [("fresh", 2)]
    assert names_and_counts(listing(client, "sort=Most Downloaded&period=AllTime&periodMode=stats")) == [
        ("classic", 51),
        ("quiet", 9),
        ("rising", 6),
        ("fresh", 2),
    ]


@pytest.mark.parametrize(
    ("query", "named"), [("periodMode=trending", "periodMode"), ("period=Fortnight&periodMode=stats", "period")]
)
def test_an_unknown_period_or_mode_is_a_400_that_names_it(client, query, named):
    response = client.get(f"/api/v1/models?{query}")
    assert response.status_code == 400, response.text
    assert named in response.json()["error"]
