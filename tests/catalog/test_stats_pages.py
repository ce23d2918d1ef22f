"""The creator's download statistics: `/my/stats`, `/models/{id}/stats` (chart and period totals per version) and
`/models/{id}/stats.csv`; who may see them is in tests/test_visibility_matrix.py. In Chromium too."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, time, timedelta

import pytest
from playwright.sync_api import BrowserContext
from sqlalchemy import update

from modelyard.catalog import stats, stats_aggregation
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.runtime import Runtime
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import UserFixture, create_user, log_in
from tests.web.test_account_browser import click_and_settle, log_in_through_the_form
from tests.web.test_browser import PageProblems, screenshot
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context


def downloads(runtime: Runtime, version_id: int, *, days_ago: int, people: int) -> None:
    """`people` downloads of the version `days_ago` UTC days ago, counted by the job's step."""
    moment = datetime.combine(stats.utc_today(), time(12), UTC) - timedelta(days=days_ago)
    with runtime.db.transaction() as session:
        for n in range(people):
            stats.record(session, stats.VERSION_DOWNLOADS, entity_id=version_id, actor=f"ip:{n}", now=moment)
    while True:
        with runtime.db.transaction() as session:
            if not stats_aggregation.aggregate(session):
                return


@pytest.fixture
def owner(runtime: Runtime) -> UserFixture:
    return create_user(runtime, username="chartmaker")


@pytest.fixture
def made(runtime: Runtime, owner: UserFixture) -> ModelFixture:
    made = create_model(runtime, owner, name="Ink wash", published=True, versions=2, with_post=False)
    first, second = made.version_ids
    downloads(runtime, first, days_ago=0, people=3)
    downloads(runtime, first, days_ago=5, people=2)
    downloads(runtime, first, days_ago=40, people=4)
    downloads(runtime, second, days_ago=1, people=1)
    return made


def totals_on(html: str, label: str) -> dict[str, str]:
    """The period totals of the list labelled `label`: {"Day": "3", ...}."""
    block = re.search(rf'<ul class="stats" aria-label="{re.escape(label)}">(.*?)</ul>', html, re.S)
    assert block is not None, label
    values = re.findall(r'data-period="(\w+)"><span class="stat__value">([\d,]+)<', block.group(1))
    return dict(values)


def test_the_model_page_of_statistics_shows_each_versions_totals_and_chart(runtime, client, owner, made):
    log_in(client, owner)
    page = client.get(f"/models/{made.id}/stats")
    assert page.status_code == 200
    html = page.text
    assert totals_on(html, "All versions") == {"Day": "3", "Week": "6", "Month": "6", "AllTime": "10"}
    assert totals_on(html, "Downloads of v1") == {"Day": "3", "Week": "5", "Month": "5", "AllTime": "9"}
    assert totals_on(html, "Downloads of v2") == {"Day": "0", "Week": "1", "Month": "1", "AllTime": "1"}
    assert len(re.findall(r'<svg class="download-chart__plot"', html)) == 2
    chart = chart_of(html, "v1")
    assert len(re.findall(r"<rect ", chart)) == 2  # two days with downloads in the last 30 (day 40 is out)
    assert f"<title>{stats.utc_today().isoformat()}: 3 downloads</title>" in chart
    assert 'aria-label="Downloads per day of v1: 5 downloads from' in chart
    assert len(re.findall(r"<rect ", chart_of(html, "v2"))) == 1

    year = client.get(f"/models/{made.id}/stats?days=365").text
    assert len(re.findall(r"<rect ", chart_of(year, "v1"))) == 3


def chart_of(html: str, version_name: str) -> str:
    found = re.search(rf'<svg class="download-chart__plot"[^>]*of {version_name}:.*?</svg>', html, re.S)
    assert found is not None, version_name
    return found.group(0)


@pytest.mark.parametrize("days", ["6", "367", "-1", "x", "99999999999999999999"])
def test_a_span_outside_a_week_to_a_year_is_refused(client, owner, made, days):
    log_in(client, owner)
    for path in (f"/models/{made.id}/stats?days={days}", f"/models/{made.id}/stats.csv?days={days}"):
        assert client.get(path).status_code in (400, 422), path


def test_the_csv_export_has_every_day_of_every_version(client, owner, made):
    log_in(client, owner)
    response = client.get(f"/models/{made.id}/stats.csv?days=7")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    first_day, last_day = stats.utc_today() - timedelta(days=6), stats.utc_today()
    assert response.headers["content-disposition"] == (
        f'attachment; filename="downloads-model-{made.id}-{first_day.isoformat()}-to-{last_day.isoformat()}.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["date", "model_id", "model_name", "version_id", "version_name", "downloads"]
    assert len(rows) == 1 + 7 * 2
    first, second = made.version_ids
    by_key = {(row[0], int(row[3])): int(row[5]) for row in rows[1:]}
    today, yesterday = stats.utc_today(), stats.utc_today() - timedelta(days=1)
    assert by_key[(today.isoformat(), first)] == 3
    assert by_key[((today - timedelta(days=5)).isoformat(), first)] == 2
    assert by_key[(yesterday.isoformat(), second)] == 1
    assert sum(by_key.values()) == 6  # day 40 is outside the week


def test_names_that_look_like_formulas_are_defused_in_the_csv(runtime, client, owner, made):
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == made.id).values(name='=HYPERLINK("http://x","y")'))
        session.execute(update(ModelVersion).where(ModelVersion.id == made.version_ids[0]).values(name="@SUM(A1)"))
    log_in(client, owner)
    rows = list(csv.reader(io.StringIO(client.get(f"/models/{made.id}/stats.csv").text)))
    assert {row[2] for row in rows[1:]} == {'\'=HYPERLINK("http://x","y")'}
    assert "'@SUM(A1)" in {row[4] for row in rows[1:]}


def test_my_statistics_list_each_model_with_its_totals(runtime, client, owner, made):
    create_model(runtime, owner, name="Never downloaded", with_post=False)
    log_in(client, owner)
    html = client.get("/my/stats").text
    rows = re.findall(r"<tr>\s*<th scope=\"row\"><a href=\"/models/(\d+)\">(.*?)</a>(.*?)</tr>", html, re.S)
    found = {name: dict(re.findall(r'data-period="(\w+)">([\d,]+)<', rest)) for _, name, rest in rows}
    assert found["Ink wash"] == {"Day": "3", "Week": "6", "Month": "6", "AllTime": "10"}
    assert found["Never downloaded"] == {"Day": "0", "Week": "0", "Month": "0", "AllTime": "0"}


def test_the_dashboard_and_the_model_page_link_to_the_statistics_for_their_owner_only(runtime, client, owner, made):
    log_in(client, owner)
    assert 'href="/my/stats"' in client.get("/my/models").text
    assert f'href="/models/{made.id}/stats"' in client.get(f"/models/{made.id}").text
    log_in(client, create_user(runtime))
    assert f'href="/models/{made.id}/stats"' not in client.get(f"/models/{made.id}").text


@pytest.mark.browser
def test_a_creator_follows_the_dashboard_to_a_versions_chart_and_exports_it(
    context: BrowserContext, runtime: Runtime, owner: UserFixture, made: ModelFixture
) -> None:
    page = context.new_page()
    problems = PageProblems(page)
    log_in_through_the_form(page, owner, "/my/models")
    page.wait_for_url("**/my/models", wait_until="networkidle")
    click_and_settle(page, page.get_by_role("link", name="Download statistics"))
    row = page.get_by_role("row").filter(has_text="Ink wash")
    assert row.locator('[data-period="AllTime"]').inner_text() == "10"
    click_and_settle(page, row.get_by_role("link", name="Chart"))

    chart = page.get_by_role("img", name=re.compile(r"^Downloads per day of v1"))
    assert chart.is_visible()
    bars = chart.locator("rect")
    assert bars.count() == 2
    box = bars.last.bounding_box()
    assert box is not None and box["height"] > 10, "today's bar, the busiest day, is drawn to the chart's height"
    screenshot(page, "catalog-download-stats.png")

    click_and_settle(page, page.get_by_role("link", name="Last 365 days"))
    assert page.get_by_role("img", name=re.compile(r"^Downloads per day of v1")).locator("rect").count() == 3
    with page.expect_download() as exported:
        page.get_by_role("link", name="Export CSV").click()
    assert exported.value.suggested_filename.endswith(".csv")
    text = open(exported.value.path(), encoding="utf-8").read()  # noqa: SIM115 - read whole, closed by GC
    assert text.startswith("date,model_id,model_name,version_id,version_name,downloads")
    assert len(text.strip().splitlines()) == 1 + 365 * 2
    assert problems.items == []
