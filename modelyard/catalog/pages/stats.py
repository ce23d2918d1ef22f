"""Download statistics for creators: every model of theirs with its totals (`/my/stats`), and per model a chart of
each version's downloads per day with day / week / month / all-time totals (`/models/{id}/stats`) and the same
numbers as CSV (`/models/{id}/stats.csv`). Owners and moderators only; anyone else gets the ordinary 404.

The chart is SVG drawn here, on the server: no script, no inline style (the CSP allows neither), and it prints.
Counts come from `catalog.stats` (aggregated every minute), so a download shows up within about a minute.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.catalog import queries, stats
from modelyard.catalog.models import Model, ModelVersion
from modelyard.catalog.pages.common import CatalogReader
from modelyard.core.errors import NotFound
from modelyard.core.http import SessionDep
from modelyard.core.params import Id
from modelyard.web.toolkit import page

router = APIRouter(include_in_schema=False)

RANGES = (30, 90, 365)
"""The chart's spans in days, offered as links; any span from 7 to 366 days is accepted."""
Span = Annotated[int, Query(ge=7, le=366, description="How many UTC days, ending today, to chart")]
TOTALS = (stats.Period.Day, stats.Period.Week, stats.Period.Month, stats.Period.AllTime)
TOTAL_LABELS = {
    stats.Period.Day: "Today",
    stats.Period.Week: "7 days",
    stats.Period.Month: "30 days",
    stats.Period.AllTime: "All time",
}

# --- the chart ----------------------------------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 720, 180
PLOT_LEFT, PLOT_TOP, PLOT_BOTTOM = 44, 12, 24  # room for the axis labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Chart:
    """A bar per day with downloads, scaled to the busiest day; its geometry in SVG user units."""

    bars: list[Bar]
    peak: int
    total: int
    first: date
    last: date
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = PLOT_LEFT
    top: int = PLOT_TOP
    baseline: int = CHART_HEIGHT - PLOT_BOTTOM

    @property
    def summary(self) -> str:
        """What the chart shows, for screen readers (the chart itself is an image to them)."""
        if not self.total:
            return f"No downloads from {self.first.isoformat()} to {self.last.isoformat()}."
        return (
            f"{self.total} downloads from {self.first.isoformat()} to {self.last.isoformat()}; "
            f"the busiest day had {self.peak}."
        )


def draw(series: dict[date, int], first: date, last: date) -> Chart:
    days = (last - first).days + 1
    slot = (CHART_WIDTH - PLOT_LEFT) / days
    plot_height = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    peak = max(series.values(), default=0)
    bars = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        count = series.get(day, 0)
        if not count:
            continue
        height = max(count / peak * plot_height, 1.0)
        bars.append(
            Bar(
                x=round(PLOT_LEFT + offset * slot + slot * 0.1, 2),
                y=round(CHART_HEIGHT - PLOT_BOTTOM - height, 2),
                width=round(max(slot * 0.8, 0.5), 2),
                height=round(height, 2),
                label=f"{day.isoformat()}: {count} download{'s' if count != 1 else ''}",
            )
        )
    return Chart(bars=bars, peak=peak, total=sum(series.values()), first=first, last=last)


# --- what the pages read ------------------------------------------------------------------------------------------


def owned_model(session: Session, user: User, model_id: int) -> Model:
    """The model, if `user` may see it and it is theirs, or they moderate."""
    model = queries.load_model(session, user, model_id)
    if not policy.is_owner_or_moderator(user, model.user_id):
        raise NotFound(f"No model with id {model_id}")
    return model


def span_of(days: int, today: date | None = None) -> tuple[date, date]:
    last = today or stats.utc_today()
    return last - timedelta(days=days - 1), last


def model_stats(session: Session, viewer: User, model: Model, days: int) -> dict[str, Any]:
    """Totals and a chart for every version the viewer may see, and the model's totals: three queries."""
    versions = queries.visible_versions_of(viewer, model)
    first, last = span_of(days)
    ids = [version.id for version in versions]
    totals = stats.period_totals(session, stats.VERSION_DOWNLOADS, "model_version", ids, today=last)
    series = stats.daily_series(session, stats.VERSION_DOWNLOADS, ids, first=first, last=last)
    model_totals = stats.period_totals(session, stats.VERSION_DOWNLOADS, "model", [model.id], today=last)
    return {
        "model": model,
        "days": days,
        "ranges": RANGES,
        "periods": TOTALS,
        "period_labels": TOTAL_LABELS,
        "model_totals": model_totals[model.id],
        "rows": [
            {"version": version, "totals": totals[version.id], "chart": draw(series[version.id], first, last)}
            for version in versions
        ],
    }


def csv_lines(model: Model, versions: list[ModelVersion], series: dict[int, dict[date, int]], span: range) -> str:
    """One row per version per day (zeros included), oldest first: ready for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["date", "model_id", "model_name", "version_id", "version_name", "downloads"])
    for offset in span:
        for version in versions:
            day = date.fromordinal(offset)
            count = series[version.id].get(day, 0)
            writer.writerow([day.isoformat(), model.id, cell(model.name), version.id, cell(version.name), count])
    return out.getvalue()


def cell(text: str) -> str:
    """A name as a spreadsheet cell: one starting like a formula is prefixed with an apostrophe, so opening the
    export never runs what a model's name says (CSV injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- the pages ----------------------------------------------------------------------------------------------------


@router.get("/my/stats", response_class=HTMLResponse)
def my_stats_page(
    request: Request,
    user: CatalogReader,
    session: SessionDep,
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """The signed-in creator's models (as on their dashboard) with each model's download totals."""
    items = queries.owner_models(session, user.id, page=page_number)
    totals = stats.period_totals(session, stats.VERSION_DOWNLOADS, "model", [item.id for item in items])
    context = {
        "rows": [{"model": item, "totals": totals[item.id]} for item in items],
        "periods": TOTALS,
        "period_labels": TOTAL_LABELS,
        "page": page_number,
        "has_next": len(items) == queries.DASHBOARD_PAGE,
    }
    return page(request, "catalog/my_stats.html", context)


@router.get("/models/{model_id:int}/stats", response_class=HTMLResponse)
def model_stats_page(
    request: Request, model_id: Id, user: CatalogReader, session: SessionDep, days: Span = 30
) -> Response:
    """Downloads per day of each version of the model, over the last `days` UTC days, with period totals."""
    model = owned_model(session, user, model_id)
    return page(request, "catalog/stats.html", model_stats(session, user, model, days))


@router.get("/models/{model_id:int}/stats.csv")
def model_stats_csv(model_id: Id, user: CatalogReader, session: SessionDep, days: Span = 30) -> Response:
    """The chart's numbers: downloads per version per UTC day over the last `days` days, as CSV."""
    model = owned_model(session, user, model_id)
    versions = queries.visible_versions_of(user, model)
    first, last = span_of(days)
    series = stats.daily_series(session, stats.VERSION_DOWNLOADS, [v.id for v in versions], first=first, last=last)
    body = csv_lines(model, versions, series, range(first.toordinal(), last.toordinal() + 1))
    filename = f"downloads-model-{model.id}-{first.isoformat()}-to-{last.isoformat()}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
