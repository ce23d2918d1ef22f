"""`GET /api/v1/models` and `GET /api/v1/models/{id}` (reference §1.3-1.4).

The list is the catalog's one listing of models (`catalog.browsing`) read from Civitai's parameters and shaped
as Civitai's objects. It pages with keyset cursors (`<sort value>|<id>`, opaque to clients) that never skip or
repeat an item while the catalog changes; `page` still works up to Civitai's limit of 1,000 items deep.

With `query` the listing goes through the search (`browsing.searched`, `search.listing`): name, tags, trigger
words, creator, file names and description, ranked by relevance unless a sort other than Civitai's default is
asked for. It pages by the search's signed cursors (a cursor of another question, or altered, is a 400), and by
`page`, which Civitai refuses with a search but published clients send (`page=1&query=...`). Its pages are not
kept in the body cache: the index follows a change just after its commit, and a page cached in between would
outlive the change by the cache's lifetime.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from modelyard.accounts.auth import Principal, PrincipalDep
from modelyard.accounts.models import User
from modelyard.api_v1 import loading, shapes
from modelyard.api_v1.common import (
    Params,
    canonical_query,
    page_metadata,
    path_id,
    public_json,
    public_read,
    query_docs,
    v1_page_request,
)
from modelyard.api_v1.rows import Query
from modelyard.catalog import browsing, stats
from modelyard.catalog.enums import CheckpointType, CommercialUse, ModelType
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import Model
from modelyard.core import paging
from modelyard.core.errors import NotFound, Unauthorized
from modelyard.core.forwarded import public_url
from modelyard.core.hot import HotReads
from modelyard.core.http import DbDep, SessionDep
from modelyard.search.types import MAX_QUERY_CHARS

router = APIRouter(tags=["Civitai API v1"])
hot = HotReads(router)

SORTS = tuple(sort.value for sort in browsing.ModelSort)
PERIODS = {period.value: days for period, days in browsing.PERIOD_DAYS.items()}
PERIOD_MODES = tuple(mode.value for mode in browsing.PeriodMode)


def filters_of(params: Params, viewer: User | None) -> browsing.ModelFilters:
    """The listing a v1 query asks for, read with Civitai's parsing rules (`Params`)."""
    if (params.boolean("favorites") or params.boolean("hidden")) and viewer is None:
        raise Unauthorized("Unauthorized")
    return browsing.ModelFilters(
        browsing_level=params.browsing_level(),
        types=tuple(params.choices("types", [t.value for t in ModelType])),
        tag=params.text("tag") or params.text("tagname"),
        username=params.text("username"),
        allow_no_credit=params.boolean("allowNoCredit"),
        allow_derivatives=params.boolean("allowDerivatives"),
        allow_different_license=params.boolean("allowDifferentLicense"),
        commercial_uses=tuple(params.choices("allowCommercialUse", [c.value for c in CommercialUse])),
        checkpoint_types=tuple(params.choices("checkpointType", [c.value for c in CheckpointType])),
        ids=tuple(params.integers("ids")),
        base_models=tuple(params.strings("baseModels")),
        version_ids=tuple(params.integers("modelVersionIds")),
        period=browsing.Period((params.choices("period", PERIODS, split=False) or ["AllTime"])[0]),
        period_mode=browsing.PeriodMode((params.choices("periodMode", PERIOD_MODES, split=False) or ["published"])[0]),
        # Bookmarks and hidden models come with collections; until then both lists are empty.
        none=bool(params.boolean("favorites") or params.boolean("hidden")),
        text=params.text("query", max_length=MAX_QUERY_CHARS),
    )


def sort_of(params: Params) -> browsing.ModelSort:
    return browsing.ModelSort((params.choices("sort", SORTS, split=False) or ["Highest Rated"])[0])


LIST_PARAMETERS = query_docs(
    ("limit", "integer", "Items per page, 1-100 (default 100)"),
    ("page", "integer", "Page number (also of a search); page x limit may not pass 1000 (use cursors)"),
    ("cursor", "string", "metadata.nextCursor of the previous page"),
    (
        "query",
        "string",
        f"Search words (at most {MAX_QUERY_CHARS} characters): name, tags, trigger words, creator, file names and "
        "description, by meaning as well; best match first unless a sort is given. Pages by cursor (or page)",
    ),
    ("tag", "string", "A tag name"),
    ("username", "string", "The creator's username"),
    ("types", "list", "Model types"),
    ("sort", "string", f"One of: {', '.join(SORTS)}"),
    ("period", "string", f"One of: {', '.join(PERIODS)}"),
    ("periodMode", "string", "published (default): models first published in the period; stats: downloads in it"),
    ("favorites", "boolean", "Your bookmarked models (needs a key)"),
    ("hidden", "boolean", "Models you hid (needs a key)"),
    ("primaryFileOnly", "boolean", "Only each version's primary file"),
    ("allowNoCredit", "boolean", "License: use without crediting the creator"),
    ("allowDerivatives", "boolean", "License: share merges"),
    ("allowDifferentLicense", "boolean", "License: share merges under other permissions"),
    ("allowCommercialUse", "list", "License: any of None, Image, RentCivit, Rent, Sell"),
    ("nsfw", "boolean", "Include every browsing level (absent: PG only)"),
    ("browsingLevel", "integer", "Browsing level bit mask (PG 1, PG-13 2, R 4, X 8, XXX 16); wins over nsfw"),
    ("baseModels", "list", "Base model names"),
    ("checkpointType", "list", "Trained or Merge"),
    ("ids", "list", "Model ids"),
    ("modelVersionIds", "list", "Model version ids"),
)


@hot.get("/api/v1/models", summary="List and search models (Civitai v1)", openapi_extra=LIST_PARAMETERS)
async def list_models(request: Request, db: DbDep) -> Response:
    """Published models with their versions, files and showcase images, `{items, metadata}`. Lists accept
    repeated parameters or comma-joined values; booleans `true` or `True`. A signed-in caller's list also holds
    their own unlisted models."""
    key = None if request.query_params.get("query", "").strip() else f"models?{canonical_query(request)}"
    build, personal = partial(_list_page, request), partial(_personal_list, request)
    return await public_read(request, db, build, cache_key=key, personal=personal)


def _personal_list(request: Request, session: Session, principal: Principal) -> bool:
    """Whether a signed-in caller's page is their own, not the one anyone gets for the same question: it holds
    their key (`token=`, carried into `nextPage`), their bookmarks or hidden models, or what only they may see
    (`visibility.sees_only_public`)."""
    if principal.user is None:
        return False
    if not PERSONAL_PARAMETERS.isdisjoint(request.query_params):
        return True
    return not visibility.sees_only_public(session, principal.user)


PERSONAL_PARAMETERS = frozenset({"token", "favorites", "hidden"})


def _list_page(request: Request, session: Session, principal: Principal) -> dict[str, Any]:
    """One page of the listing (`catalog.browsing`), shaped as Civitai's."""
    viewer = principal.user
    params = Params(request.query_params)
    asked = v1_page_request(params, default_limit=100, max_limit=100)
    filters, sort = listing_of(params, viewer)
    if filters.text:
        found = browsing.searched(session, viewer, filters, sort, asked, partial(_rows_by_id, session, viewer, sort))
        models, more, cursor = found.items, found.has_next, found.next_cursor
    else:
        mode, values = browsing.plan(filters, sort, asked)
        models, more = paging.take(page_statement(params, viewer, mode).rows(session.connection(), values), asked.limit)
        cursor = browsing.next_cursor(filters, sort, models[-1]) if more else None
    base = public_url(request)
    loaded = loading.load(session, viewer, models, browsing_level=params.browsing_level())
    models = _downloads_in(session, browsing.counted_period(filters), models, loaded)
    primary_only = bool(params.boolean("primaryFileOnly"))
    items = [shapes.model_json(base, loaded, model, primary_only=primary_only) for model in models]
    return {"items": items, "metadata": page_metadata(request, asked, more=more, cursor=cursor)}


def _rows_by_id(
    session: Session, viewer: User | None, sort: browsing.ModelSort, filters: browsing.ModelFilters
) -> dict[int, Any]:
    """The listing's rows of the models `filters` name by id (a search's hits), by id."""
    query = Query(browsing.statement(viewer, filters, sort, columns=loading.MODEL_COLUMNS), once=True)
    rows = query.rows(session.connection(), browsing.load_values(filters, len(filters.ids)))
    return {row.id: row for row in rows}


def _downloads_in(
    session: Session, period: stats.Period | None, models: list[Any], loaded: loading.Loaded
) -> list[Any]:
    """The page's rows with their downloads in `period` (`periodMode=stats`) in place of all-time ones, so that
    `stats.downloadCount` counts what the sort counted: two queries whatever the page holds."""
    if period is None or not models:
        return models
    by_model = stats.period_totals(session, stats.VERSION_DOWNLOADS, "model", [model.id for model in models])
    version_ids = [version.id for versions in loaded.versions.values() for version in versions]
    by_version = stats.period_totals(session, stats.VERSION_DOWNLOADS, "model_version", version_ids)
    loaded.versions = {
        model_id: [version._replace(download_count=by_version[version.id][period]) for version in versions]
        for model_id, versions in loaded.versions.items()
    }
    return [model._replace(download_count=by_model[model.id][period]) for model in models]


PAGING = frozenset({"limit", "page", "cursor", "token"})


def listing_of(params: Params, viewer: User | None) -> tuple[browsing.ModelFilters, browsing.ModelSort]:
    """The filters and sort a query asks for; read once per question for anonymous callers."""
    if viewer is not None:
        return filters_of(params, viewer), sort_of(params)
    return _anonymous_listing(_question(params))


def page_statement(params: Params, viewer: User | None, mode: browsing.Paging) -> Query:
    """The page's query (`browsing.statement` over the columns the v1 shapes read), its paging values left as
    parameters (`browsing.plan` gives them). Building a statement and keying SQLAlchemy's compiled cache on it
    costs more than the query, so anonymous lists reuse theirs, one per question (the filters, sorted) and mode."""
    if viewer is not None:  # the viewer's own unlisted models are in it
        filters, sort = listing_of(params, viewer)
        return Query(browsing.statement(viewer, filters, sort, columns=loading.MODEL_COLUMNS, mode=mode), once=True)
    return _anonymous_page_statement(_question(params), mode)


def _question(params: Params) -> str:
    return urlencode(sorted((k, v) for k, v in params.query.multi_items() if k not in PAGING))


@lru_cache(maxsize=256)
def _anonymous_listing(question: str) -> tuple[browsing.ModelFilters, browsing.ModelSort]:
    params = Params(QueryParams(question))
    return filters_of(params, None), sort_of(params)


@lru_cache(maxsize=256)
def _anonymous_page_statement(question: str, mode: browsing.Paging) -> Query:
    filters, sort = _anonymous_listing(question)
    return Query(browsing.statement(None, filters, sort, columns=loading.MODEL_COLUMNS, mode=mode))


@router.get("/api/v1/models/{model_id}", summary="One model (Civitai v1)")
def get_model(model_id: str, request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """A model with its published versions, their files and showcase images (all browsing levels)."""
    number = path_id(model_id)
    model = _visible_model(session, principal.user, number)
    loaded = loading.load(session, principal.user, [model], browsing_level=63)
    base = public_url(request)
    return public_json(principal, shapes.model_json(base, loaded, model))


def _visible_model(session: Session, viewer: User | None, model_id: int) -> Model:
    model = session.get(Model, model_id)
    if model is None or not visibility.can_view_model(viewer, model):
        raise NotFound(f"No model with id {model_id}")
    return model
