"""The one listing of models: every list of published models, on the site and in both APIs, is built here.

A listing is a `ModelFilters` (what to keep), a `ModelSort` (in which order) and a `core.paging.PageRequest`
(which slice). It always starts from the catalog's visibility rule for lists (`visibility.listable_models`) and
status Published, so no caller can forget either.

Two ways to run one:
- `browse(session, viewer, filters, sort=..., request=...)`: model cards for pages and the site's JSON API (each
  model with its creator, the base model of its newest version and that version's cover picture, in a fixed
  number of queries);
- `statement(viewer, filters, sort, columns=..., paging=...)`: the bare SELECT with its paging values left as
  parameters (`limit`, `offset`, `after_value`, `after_id`, `since`), for the public API, which picks its own
  columns and compiles a statement once to run it many times. `plan` gives the mode and values for a request and
  `next_cursor` the cursor after a page, so both ways page alike.

A listing with a text query is answered by the search domain, through one seam (`TextSearch`, registered with
`use_text_search` when the search domain loads; the catalog never imports it): the search finds one page of model
ids in its order, with the cursor of the next page, and `searched` loads those rows through this listing (`ids` =
the hits), so every filter and the visibility rule have the last word in SQL even while the index lags a change.
`cards_for` does the same for ids found elsewhere (the search page).
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from modelyard.accounts import browsing as viewer_browsing
from modelyard.accounts.models import User
from modelyard.accounts.service import username_key
from modelyard.catalog import showcase, stats
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle.visibility import listable_models, visible_versions
from modelyard.catalog.models import Model, ModelVersion, Tag, TagOnModel
from modelyard.catalog.service import tag_key
from modelyard.catalog.showcase import Picture
from modelyard.core import paging
from modelyard.core.db import utcnow
from modelyard.core.nsfw import NSFW_LEVELS
from modelyard.core.paging import Page, PageRequest

Paging = Literal["first", "after", "offset"]
NSFW_MODEL_LEVEL = NSFW_LEVELS  # R | X | XXX | Blocked: Civitai's level of a model flagged nsfw
PERIOD_DOWNLOADS = "period_downloads"  # the column a listing sorted by a period's downloads adds to its rows


class ModelSort(enum.StrEnum):
    """Civitai's sorts, spelled as its API takes them."""

    HighestRated = "Highest Rated"
    MostDownloaded = "Most Downloaded"
    MostLiked = "Most Liked"
    MostDiscussed = "Most Discussed"
    MostCollected = "Most Collected"
    MostImages = "Most Images"
    Newest = "Newest"
    Oldest = "Oldest"


# What the site offers: the sorts whose data exists. Ratings, likes, comments and collections come with their
# features, and join this list then; until then the public API still answers those sorts (clients send them), by
# downloads, the one measure there is (Civitai's Highest Rated is thumbs up, then downloads).
OFFERED_SORTS: tuple[ModelSort, ...] = (ModelSort.Newest, ModelSort.MostDownloaded)


class Period(enum.StrEnum):
    """How far back a listing looks: models first published within the period (Civitai's `period`)."""

    AllTime = "AllTime"
    Year = "Year"
    Month = "Month"
    Week = "Week"
    Day = "Day"


class PeriodMode(enum.StrEnum):
    """Civitai's `periodMode`: what the period bounds. `published`: the models' first publication; `stats`: the
    downloads counted, in `stats.downloadCount` and the download sorts (`catalog.stats`), over every model."""

    published = "published"
    stats = "stats"


PERIOD_DAYS: dict[Period, int | None] = {
    Period.AllTime: None,
    Period.Year: 365,
    Period.Month: 30,
    Period.Week: 7,
    Period.Day: 1,
}


@dataclass(frozen=True)
class SortKey:
    column: Any  # the model column ordered by, then the id in the same direction
    descending: bool
    is_date: bool


def sort_key(sort: ModelSort, filters: ModelFilters | None = None) -> SortKey:
    if sort in (ModelSort.Newest, ModelSort.Oldest):
        # First publication: set for every published model, and indexed with the status (ix_model_status_published).
        return SortKey(Model.published_at, sort is ModelSort.Newest, True)
    if filters is not None and counted_period(filters) is not None:
        return SortKey(stats.model_downloads_since(stats.first_day_param()), True, False)
    return SortKey(Model.download_count, True, False)


def counted_period(filters: ModelFilters) -> stats.Period | None:
    """The period the download counts cover (`periodMode=stats`), or None: all time."""
    if filters.period_mode is PeriodMode.stats and filters.period is not Period.AllTime:
        return stats.Period(filters.period.value)
    return None


@dataclass(frozen=True)
class ModelFilters:
    """What a listing keeps. Empty values keep everything; several values of one filter are alternatives."""

    types: tuple[str, ...] = ()
    base_models: tuple[str, ...] = ()  # of a published version
    tag: str | None = None
    username: str | None = None  # the creator, case-insensitively
    user_id: int | None = None  # the creator, by id
    text: str | None = None  # through the `TextSearch` in use
    ids: tuple[int, ...] = ()
    version_ids: tuple[int, ...] = ()  # models with one of these published versions
    checkpoint_types: tuple[str, ...] = ()
    browsing_level: int | None = None  # a bitmask of NSFW levels the model's level must meet; None: any
    allow_no_credit: bool | None = None
    allow_derivatives: bool | None = None
    allow_different_license: bool | None = None
    commercial_uses: tuple[str, ...] = ()  # any of
    period: Period = Period.AllTime
    period_mode: PeriodMode = PeriodMode.published
    none: bool = False  # nothing at all (bookmarks and hidden models, until collections exist)


# --- the text seam ----------------------------------------------------------------------------------------------

Row = TypeVar("Row")


class TextSearch(Protocol):
    """How a listing with a text query finds its models (the search domain's: `search.listing`)."""

    def find(
        self,
        session: Session,
        viewer: User | None,
        filters: ModelFilters,
        sort: ModelSort,
        request: PageRequest,
        load: Callable[[Sequence[int]], Mapping[int, Row]],
    ) -> Page[Row]:
        """One page of the models matching `filters.text` and as many of the other filters as the search can
        express, in its order: the rows `load(ids)` gives for its hits (by model id: a hit without a row is left
        out), `request.limit` at most, after `request.cursor` (a cursor it gave, else a 400) or at
        `request.offset` (a page number); `next_cursor` its own."""
        ...


_text_search: TextSearch | None = None


def use_text_search(search: TextSearch) -> None:
    """The search that answers text queries (the search domain registers its own when it is loaded)."""
    global _text_search
    _text_search = search


# --- the statement ----------------------------------------------------------------------------------------------


def level_of_model() -> ColumnElement[int]:
    """A model's NSFW level as Civitai gives it: 60 when flagged nsfw, else its rated level (unrated: PG)."""
    rated = case((Model.nsfw_level == 0, 1), else_=Model.nsfw_level)
    return case((Model.nsfw.is_(True), NSFW_MODEL_LEVEL), else_=rated)


def statement(
    viewer: User | None,
    filters: ModelFilters,
    sort: ModelSort,
    *,
    columns: Sequence[Any] = (Model,),
    mode: Paging = "first",
    with_creator: bool = False,
) -> Select[Any]:
    """The listing's SELECT of `columns` (and the creator's username last, `with_creator`), ordered, with the
    paging values as parameters: `limit`; `offset` (`mode` "offset") or `after_value` and `after_id` (mode
    "after"); `since` when the filters name a period."""
    key = sort_key(sort, filters)
    counted = (key.column.label(PERIOD_DOWNLOADS),) if counted_period(filters) and not key.is_date else ()
    query = listed(viewer, filters, (*columns, *counted, *((User.username,) if with_creator else ())))
    if with_creator:
        query = query.join(User, User.id == Model.user_id)
    order = [key.column.desc(), Model.id.desc()] if key.descending else [key.column.asc(), Model.id.asc()]
    query = query.order_by(*order).limit(bindparam("limit", type_=Integer))
    if mode == "offset":
        return query.offset(bindparam("offset", type_=Integer))
    if mode == "after":
        value, last_id = bindparam("after_value", type_=key.column.type), bindparam("after_id", type_=Integer)
        return query.where(paging.after(key.column, value, Model.id, last_id, descending=key.descending))
    return query


def listed_clause(viewer: User | None) -> ColumnElement[bool]:
    """The models any list may show `viewer`: published, and listable by the catalog's visibility rule. Every
    listing of models starts here, and so do the counts other lists show (models per tag, per creator)."""
    return and_(listable_models(viewer), Model.status == ModelStatus.Published)


def listed(viewer: User | None, filters: ModelFilters, columns: Sequence[Any]) -> Select[Any]:
    """The SELECT of `columns` from the models the filters keep, unordered (a period's start left as `since`)."""
    query = typing.cast(Select[Any], select(*columns))
    return _filtered(query.where(listed_clause(viewer)), filters)


def _filtered(query: Select[Any], filters: ModelFilters) -> Select[Any]:
    if filters.text:  # no SQL reads text: the search finds the ids (`searched`)
        raise ValueError("a listing with a text query is run by `searched`")
    if filters.browsing_level is not None:
        query = query.where(level_of_model().op("&")(filters.browsing_level) != 0)
    if filters.types:
        query = query.where(Model.type.in_(filters.types))
    if filters.tag:
        tagged = select(TagOnModel.model_id).join(Tag, Tag.id == TagOnModel.tag_id)
        query = query.where(Model.id.in_(tagged.where(Tag.name == tag_key(filters.tag))))
    if filters.username:
        query = query.where(
            Model.user_id.in_(select(User.id).where(User.username_key == username_key(filters.username)))
        )
    if filters.user_id is not None:
        query = query.where(Model.user_id == filters.user_id)
    query = _license_filters(query, filters)
    if filters.checkpoint_types:
        query = query.where(Model.checkpoint_type.in_(filters.checkpoint_types))
    if filters.ids:
        query = query.where(Model.id.in_(filters.ids))
    version_filters = []
    if filters.base_models:
        version_filters.append(ModelVersion.base_model.in_(filters.base_models))
    if filters.version_ids:
        version_filters.append(ModelVersion.id.in_(filters.version_ids))
    if version_filters:
        published = and_(ModelVersion.model_id == Model.id, ModelVersion.status == ModelStatus.Published)
        query = query.where(exists().where(published, *version_filters))
    if PERIOD_DAYS[filters.period] is not None and filters.period_mode is PeriodMode.published:
        query = query.where(Model.published_at >= bindparam("since", type_=Model.published_at.type))
    if filters.none:
        query = query.where(Model.id.is_(None))
    return query


def _license_filters(query: Select[Any], filters: ModelFilters) -> Select[Any]:
    for wanted, column in (
        (filters.allow_no_credit, Model.allow_no_credit),
        (filters.allow_derivatives, Model.allow_derivatives),
        (filters.allow_different_license, Model.allow_different_license),
    ):
        if wanted is not None:
            query = query.where(column.is_(wanted))
    if filters.commercial_uses:
        # The list is stored as JSON; its text holds each value in quotes on both databases.
        text = cast(Model.allow_commercial_use, String)
        query = query.where(or_(*(text.like(f'%"{use}"%') for use in filters.commercial_uses)))
    return query


# --- paging -----------------------------------------------------------------------------------------------------


def plan(filters: ModelFilters, sort: ModelSort, request: PageRequest) -> tuple[Paging, dict[str, Any]]:
    """The paging mode of `statement` for a request, and the values of its parameters. One row more than the
    limit is asked for, to know whether another page follows (`paging.take`)."""
    values = load_values(filters, request.limit + 1)
    if request.page is not None:
        values["offset"] = request.offset
        return "offset", values
    if request.cursor:
        values["after_value"], values["after_id"] = decode_cursor(sort, request.cursor)
        return "after", values
    return "first", values


def load_values(filters: ModelFilters, limit: int) -> dict[str, Any]:
    """The values of `statement`'s parameters but the paging ones."""
    return {"limit": limit, "since": since(filters.period), **stats.period_values(counted_period(filters))}


def since(period: Period) -> datetime | None:
    """Where a period starts, counted back from now; None for all time."""
    days = PERIOD_DAYS[period]
    return None if days is None else utcnow() - timedelta(days=days)


def next_cursor(filters: ModelFilters, sort: ModelSort, last: Any) -> str:
    """The cursor of the page after one that ended with the row `last` (a model, or a row with its columns)."""
    if sort_key(sort).is_date:
        return paging.encode_cursor(last.published_at or last.created_at, last.id)
    if counted_period(filters) is not None:
        return paging.encode_cursor(getattr(last, PERIOD_DOWNLOADS), last.id)
    return paging.encode_cursor(last.download_count, last.id)


def decode_cursor(sort: ModelSort, raw: str) -> tuple[Any, int]:
    """A keyset cursor's (sort value, id), or a 400."""
    value, last_id = paging.decode_cursor(raw, datetime if sort_key(sort).is_date else int, int)
    return value, last_id


# --- text searches ----------------------------------------------------------------------------------------------


def searched(
    session: Session,
    viewer: User | None,
    filters: ModelFilters,
    sort: ModelSort,
    request: PageRequest,
    load: Callable[[ModelFilters], Mapping[int, Row]],
) -> Page[Row]:
    """One page of a listing with a text query: the search (`TextSearch`) finds the ids, and `load(filters)` reads
    their rows through this listing, by model id, the filters narrowed to those ids (`narrowed_to`); the page
    keeps the search's order and its cursor."""
    if _text_search is None:
        raise LookupError("no text search registered: the search domain (modelyard.search) is not loaded")

    def rows_of(ids: Sequence[int]) -> Mapping[int, Row]:
        kept = [model_id for model_id in ids if not filters.ids or model_id in filters.ids]
        return load(narrowed_to(filters, kept)) if kept else {}

    return _text_search.find(session, viewer, filters, sort, request, rows_of)


def narrowed_to(filters: ModelFilters, ids: Sequence[int]) -> ModelFilters:
    """The filters of a listing with a text query, as SQL runs them on the search's hits."""
    return dataclasses.replace(filters, text=None, ids=tuple(ids))


# --- model cards --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCard:
    """A model as listings show it."""

    model: Model
    creator: str
    base_model: str | None  # of the newest version the viewer may see
    cover: Picture | None  # that version's cover (`catalog.showcase`)


def browse(
    session: Session,
    viewer: User | None,
    filters: ModelFilters,
    *,
    sort: ModelSort = ModelSort.Newest,
    request: PageRequest,
) -> Page[ModelCard]:
    """One page of model cards: the models, their newest visible versions and those versions' covers, in three
    queries (plus the showcase's) whatever the page holds. Unless the filters name levels, the viewer's browsing
    level applies (`accounts.browsing`). A text query goes through the search (`searched`)."""
    filters = for_viewer(filters, viewer)
    if filters.text:
        found = searched(session, viewer, filters, sort, request, partial(_by_id, session, viewer, sort))
        return dataclasses.replace(found, items=_cards(session, viewer, found.items))
    mode, values = plan(filters, sort, request)
    query = statement(viewer, filters, sort, mode=mode, with_creator=True)
    rows, more = paging.take(session.execute(query, values).all(), request.limit)
    cursor = next_cursor(filters, sort, rows[-1][0]) if more and request.page is None else None
    return Page(items=_cards(session, viewer, rows), has_next=more, next_cursor=cursor, number=request.page)


def cards_for(
    session: Session, viewer: User | None, model_ids: Sequence[int], *, browsing_level: int | None = None
) -> list[ModelCard]:
    """The cards of these models, in this order, leaving out any the listing would not show `viewer` (the
    visibility rule, and `browsing_level`: the viewer's own when None). For ids found elsewhere: the search page."""
    if not model_ids:
        return []
    filters = for_viewer(ModelFilters(ids=tuple(model_ids), browsing_level=browsing_level), viewer)
    found = _by_id(session, viewer, ModelSort.Newest, filters)
    return _cards(session, viewer, [found[model_id] for model_id in model_ids if model_id in found])


def _by_id(session: Session, viewer: User | None, sort: ModelSort, filters: ModelFilters) -> dict[int, Any]:
    """The rows (model, creator's username) of the listing, by model id: `filters` name the ids."""
    query = statement(viewer, filters, sort, with_creator=True)
    rows = session.execute(query, load_values(filters, len(filters.ids)))
    return {row[0].id: row for row in rows}


def _cards(session: Session, viewer: User | None, rows: Sequence[Any]) -> list[ModelCard]:
    latest = _newest_versions(session, viewer, [model.id for model, _ in rows])
    covers = showcase.covers(session, [version_id for version_id, _ in latest.values()])
    cards = []
    for model, username in rows:
        version_id, base_model = latest.get(model.id, (None, None))
        cover = covers.get(version_id) if version_id is not None else None
        cards.append(ModelCard(model=model, creator=username, base_model=base_model, cover=cover))
    return cards


def for_viewer(filters: ModelFilters, viewer: User | None) -> ModelFilters:
    """The filters with the viewer's browsing level when they name no levels of their own: the site's lists show
    each person the ratings they chose (anonymous visitors: PG)."""
    if filters.browsing_level is not None:
        return filters
    return dataclasses.replace(filters, browsing_level=viewer_browsing.browsing_level(viewer))


def _newest_versions(session: Session, viewer: User | None, model_ids: list[int]) -> dict[int, tuple[int, str]]:
    """Each model's newest published version the viewer may see (the one its page opens on)."""
    if not model_ids:
        return {}
    rows = session.execute(
        select(ModelVersion.model_id, ModelVersion.id, ModelVersion.base_model)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(
            ModelVersion.model_id.in_(model_ids),
            ModelVersion.status == ModelStatus.Published,
            visible_versions(viewer),
        )
        .order_by(ModelVersion.model_id, ModelVersion.index.desc())
    )
    # Ordered so the lowest index (the newest version) is written last per model.
    return {model_id: (version_id, base_model) for model_id, version_id, base_model in rows}


@dataclass(frozen=True)
class Totals:
    models: int
    downloads: int


def totals(session: Session, viewer: User | None, filters: ModelFilters) -> Totals:
    """How many models a listing holds and their downloads together (a creator's profile shows both)."""
    filters = for_viewer(filters, viewer)
    columns = (func.count(), func.coalesce(func.sum(Model.download_count), 0))
    count, downloads = session.execute(listed(viewer, filters, columns), {"since": since(filters.period)}).one()
    return Totals(models=count, downloads=downloads)
