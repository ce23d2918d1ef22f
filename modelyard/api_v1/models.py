"""`GET /api/v1/models` and `GET /api/v1/models/{id}` (reference §1.3-1.4).

Lists page with keyset cursors (`<sort value>|<id>`, opaque to clients) that never skip or repeat an item while
the catalog changes; `page` still works up to Civitai's limit of 1,000 items deep. A `query` search pages by
offset, as Civitai's does.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, Integer, Select, String, and_, bindparam, case, cast, exists, func, or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from modelyard.accounts.auth import Principal, PrincipalDep
from modelyard.accounts.models import User
from modelyard.api_v1 import loading, shapes
from modelyard.api_v1.common import (
    Params,
    canonical_query,
    next_page_url,
    path_id,
    public_json,
    public_read,
    query_docs,
)
from modelyard.api_v1.rows import Query
from modelyard.catalog.enums import CheckpointType, CommercialUse, ModelStatus, ModelType
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import Model, ModelVersion, Tag, TagOnModel
from modelyard.core.db import contains_pattern, utcnow
from modelyard.core.errors import BadRequest, NotFound, RateLimited, Unauthorized
from modelyard.core.hot import HotReads
from modelyard.core.http import DbDep, SessionDep, runtime_of

router = APIRouter(tags=["Civitai API v1"])
hot = HotReads(router)

SORTS = (
    "Highest Rated",
    "Most Downloaded",
    "Most Liked",
    "Most Discussed",
    "Most Collected",
    "Most Images",
    "Newest",
    "Oldest",
)
PERIODS = {"AllTime": None, "Year": 365, "Month": 30, "Week": 7, "Day": 1}
MAX_OFFSET_ITEMS = 1000


@dataclass(frozen=True)
class Sort:
    column: Any  # the model column ordered by, then id in the same direction
    descending: bool
    is_date: bool


def sort_for(name: str) -> Sort:
    if name == "Newest":
        return Sort(func.coalesce(Model.published_at, Model.created_at), True, True)
    if name == "Oldest":
        return Sort(func.coalesce(Model.published_at, Model.created_at), False, True)
    # Reactions, comments and collections come with their features; until then every metric sort is by
    # downloads, the one measure that exists (Civitai's Highest Rated is thumbs up, then downloads).
    return Sort(Model.download_count, True, False)


def level_of_model() -> ColumnElement[int]:
    """`loading.model_level` as SQL."""
    rated = case((Model.nsfw_level == 0, 1), else_=Model.nsfw_level)
    return case((Model.nsfw.is_(True), loading.NSFW_MODEL_LEVEL), else_=rated)


def filtered(params: Params, viewer: User | None) -> Select[Any]:
    query = typing.cast(Select[Any], select(*loading.MODEL_COLUMNS)).where(
        visibility.listable_models(viewer), Model.status == ModelStatus.Published
    )
    query = query.where(level_of_model().op("&")(params.browsing_level()) != 0)
    types = params.choices("types", [t.value for t in ModelType])
    if types:
        query = query.where(Model.type.in_(types))
    tag = params.text("tag") or params.text("tagname")
    if tag:
        tagged = select(TagOnModel.model_id).join(Tag, Tag.id == TagOnModel.tag_id)
        query = query.where(Model.id.in_(tagged.where(func.lower(Tag.name) == tag.lower())))
    username = params.text("username")
    if username:
        query = query.where(Model.user_id.in_(select(User.id).where(func.lower(User.username) == username.lower())))
    query = _license_filters(params, query)
    checkpoint = params.choices("checkpointType", [c.value for c in CheckpointType])
    if checkpoint:
        query = query.where(Model.checkpoint_type.in_(checkpoint))
    ids = params.integers("ids")
    if ids:
        query = query.where(Model.id.in_(ids))
    version_filters = []
    base_models = params.strings("baseModels")
    if base_models:
        version_filters.append(ModelVersion.base_model.in_(base_models))
    version_ids = params.integers("modelVersionIds")
    if version_ids:
        version_filters.append(ModelVersion.id.in_(version_ids))
    if version_filters:
        published = and_(ModelVersion.model_id == Model.id, ModelVersion.status == ModelStatus.Published)
        query = query.where(exists().where(published, *version_filters))
    if _period_days(params) is not None:
        query = query.where(Model.published_at >= bindparam("since", type_=Model.published_at.type))
    if params.boolean("favorites") or params.boolean("hidden"):
        if viewer is None:
            raise Unauthorized("Unauthorized")
        # Bookmarks and hidden models come with collections; until then both lists are empty.
        query = query.where(Model.id.is_(None))
    text = params.text("query", max_length=200)
    if text:
        query = query.where(Model.name.ilike(contains_pattern(text), escape="\\"))
    return query


def _period_days(params: Params) -> int | None:
    return PERIODS[(params.choices("period", PERIODS, split=False) or ["AllTime"])[0]]


def _since(params: Params) -> datetime | None:
    """Where the period asked for starts (`since` of `page_statement`), None for all time."""
    days = _period_days(params)
    return None if days is None else utcnow() - timedelta(days=days)


def _license_filters(params: Params, query: Select[Any]) -> Select[Any]:
    for name, column in (
        ("allowNoCredit", Model.allow_no_credit),
        ("allowDerivatives", Model.allow_derivatives),
        ("allowDifferentLicense", Model.allow_different_license),
    ):
        wanted = params.boolean(name)
        if wanted is not None:
            query = query.where(column.is_(wanted))
    uses = params.choices("allowCommercialUse", [c.value for c in CommercialUse])
    if uses:
        # The list is stored as JSON; its text holds each value in quotes on both databases.
        text = cast(Model.allow_commercial_use, String)
        query = query.where(or_(*(text.like(f'%"{use}"%') for use in uses)))
    return query


LIST_PARAMETERS = query_docs(
    ("limit", "integer", "Items per page, 1-100 (default 100)"),
    ("page", "integer", "Page number; page x limit may not pass 1000 (use cursors), nor go with query"),
    ("cursor", "string", "metadata.nextCursor of the previous page"),
    ("query", "string", "Words in the model's name"),
    ("tag", "string", "A tag name"),
    ("username", "string", "The creator's username"),
    ("types", "list", "Model types"),
    ("sort", "string", f"One of: {', '.join(SORTS)}"),
    ("period", "string", f"One of: {', '.join(PERIODS)}"),
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
    key = f"models?{canonical_query(request)}"
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
    viewer = principal.user
    params = Params(request.query_params)
    limit = params.integer("limit", low=0, high=100, default=100) or 100
    page = params.integer("page", low=1, high=10**6)
    cursor = params.text("cursor", max_length=200)
    text = params.text("query", max_length=200)
    if page is not None and text:
        raise BadRequest("Cannot use page param with query search. Use cursor-based pagination.")
    if page is not None and page * limit > MAX_OFFSET_ITEMS:
        raise RateLimited("You've requested too many pages, please use cursors instead")
    sort = sort_for((params.choices("sort", SORTS, split=False) or ["Highest Rated"])[0])
    values: dict[str, Any] = {"limit": limit + 1, "since": _since(params)}
    if text:  # a search pages by offset, carried in the cursor
        mode, values["offset"] = "offset", _offset_cursor(cursor)
    elif page is not None:
        mode, values["offset"] = "offset", (page - 1) * limit
    elif cursor:
        mode, (values["after_value"], values["after_id"]) = "after", _cursor_values(sort, cursor)
    else:
        mode = "first"
    found = page_statement(params, viewer, mode).rows(session.connection(), values)
    models, more = found[:limit], len(found) > limit
    metadata: dict[str, Any] = {}
    if page is not None:
        metadata.update({"currentPage": page, "pageSize": limit})
    elif more:
        metadata["nextCursor"] = str(values["offset"] + limit) if text else _cursor_of(sort, models[-1])
    if more:
        changes = {"page": str(page + 1)} if page is not None else {"cursor": metadata["nextCursor"]}
        metadata["nextPage"] = next_page_url(request, changes)
    base = runtime_of(request).settings.public_base_url.rstrip("/")
    loaded = loading.load(session, viewer, models, browsing_level=params.browsing_level())
    primary_only = bool(params.boolean("primaryFileOnly"))
    items = [shapes.model_json(base, loaded, model, primary_only=primary_only) for model in models]
    return {"items": items, "metadata": metadata}


PAGING = frozenset({"limit", "page", "cursor", "token"})


def page_statement(params: Params, viewer: User | None, mode: str) -> Query:
    """The page's query, its paging values (and the period's start) left as parameters: `limit`, `since`, and
    `offset` (mode "offset") or `after_value` and `after_id` (mode "after"). Building a statement and keying
    SQLAlchemy's compiled cache on it costs more than the query, so anonymous lists reuse theirs, one per
    question (the filters, sorted) and mode."""
    if viewer is not None:  # the viewer's own unlisted models are in it
        return Query(_page_statement(params, viewer, mode), once=True)
    question = urlencode(sorted((k, v) for k, v in params.query.multi_items() if k not in PAGING))
    return _anonymous_page_statement(question, mode)


@lru_cache(maxsize=256)
def _anonymous_page_statement(question: str, mode: str) -> Query:
    return Query(_page_statement(Params(QueryParams(question)), None, mode))


def _page_statement(params: Params, viewer: User | None, mode: str) -> Select[Any]:
    sort = sort_for((params.choices("sort", SORTS, split=False) or ["Highest Rated"])[0])
    order = [sort.column.desc(), Model.id.desc()] if sort.descending else [sort.column.asc(), Model.id.asc()]
    query = filtered(params, viewer).order_by(*order).limit(bindparam("limit", type_=Integer))
    if mode == "offset":
        return query.offset(bindparam("offset", type_=Integer))
    if mode == "after":
        return query.where(_after(sort))
    return query


@router.get("/api/v1/models/{model_id}", summary="One model (Civitai v1)")
def get_model(model_id: str, request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """A model with its published versions, their files and showcase images (all browsing levels)."""
    number = path_id(model_id)
    model = _visible_model(session, principal.user, number)
    loaded = loading.load(session, principal.user, [model], browsing_level=63)
    base = runtime_of(request).settings.public_base_url.rstrip("/")
    return public_json(principal, shapes.model_json(base, loaded, model))


def _visible_model(session: Session, viewer: User | None, model_id: int) -> Model:
    model = session.get(Model, model_id)
    if model is None or not visibility.can_view_model(viewer, model):
        raise NotFound(f"No model with id {model_id}")
    return model


def _cursor_of(sort: Sort, model: Any) -> str:
    if sort.is_date:
        value = model.published_at or model.created_at
        return f"{value.isoformat()}|{model.id}"
    return f"{model.download_count}|{model.id}"


_INT4 = range(-(2**31), 2**31)  # ids and counts are 32-bit columns


def _cursor_values(sort: Sort, cursor: str) -> tuple[Any, int]:
    """The (sort value, id) a cursor carries: `after_value` and `after_id` of `page_statement`."""
    raw_value, _, raw_id = cursor.rpartition("|")
    try:
        last_id = int(raw_id)
        value: Any = datetime.fromisoformat(raw_value) if sort.is_date else int(raw_value)
    except ValueError:
        raise BadRequest("Invalid cursor: use metadata.nextCursor from the previous page") from None
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # cursors are written in UTC; one written by hand may leave it out
    if last_id not in _INT4 or (not sort.is_date and value not in _INT4):
        raise BadRequest("Invalid cursor: out of range")
    return value, last_id


def _after(sort: Sort) -> ColumnElement[bool]:
    """Rows strictly after the cursor's (`after_value`, `after_id`) in the sort's order."""
    value = bindparam("after_value", type_=sort.column.type)
    last_id = bindparam("after_id", type_=Integer)
    if sort.descending:
        return or_(sort.column < value, and_(sort.column == value, Model.id < last_id))
    return or_(sort.column > value, and_(sort.column == value, Model.id > last_id))


def _offset_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = int(cursor)
    except ValueError:
        raise BadRequest("Invalid cursor: use metadata.nextCursor from the previous page") from None
    if not 0 <= offset <= 10**6:
        raise BadRequest("Invalid cursor: out of range")
    return offset
