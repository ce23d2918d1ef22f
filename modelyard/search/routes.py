"""The site's search JSON API (`GET /api/search`, `GET /api/search/suggest`), and what the search pages share with
it: reading a search from a query string (`read_search`) and turning hits into the rows each index shows
(`load_rows`).

A search names an index, text, a sort, facet filters (`type=LORA&type=Checkpoint&tag=anime`: values of one facet
are alternatives, facets are intersected) and the NSFW levels it wants. The levels are never trusted: what is
asked is intersected with the viewer's own browsing level, so asking for more only narrows to what they chose.
Hits are ids; every row is loaded through its domain's own listing (`catalog.browsing.cards_for`,
`images.feed.items_for`) or, for creators and tags, through the catalog's listing rule, so the database's
visibility has the last word even while the index lags behind a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts import browsing as viewer_levels
from modelyard.accounts import policy
from modelyard.accounts.avatars import avatar_url
from modelyard.accounts.models import User
from modelyard.api_v1.common import Params
from modelyard.api_v1.loading import model_level
from modelyard.catalog import browsing
from modelyard.catalog.browsing import ModelCard, ModelFilters
from modelyard.catalog.models import Model, Tag, TagOnModel
from modelyard.catalog.routes.models import Viewer
from modelyard.core.errors import BadRequest
from modelyard.core.forwarded import public_url
from modelyard.core.http import SessionDep
from modelyard.core.nsfw import EVERY_LEVEL, BrowsingLevel
from modelyard.images.feed import FeedItem, items_for
from modelyard.images.urls import image_url
from modelyard.search import service
from modelyard.search.service import FACETS, MAX_FILTER_VALUES, MAX_VALUE_CHARS, Suggestion
from modelyard.search.types import DEFAULT_LIMIT, MAX_LIMIT, Hit, Mode, SearchPage, SearchQuery, Sort, Window

router = APIRouter(tags=["search"])

INDEXES = ("models", "images", "users", "tags")
ALL_FACETS = frozenset(name for names in FACETS.values() for name in names)
MODES: tuple[Mode, ...] = ("hybrid", "keyword", "semantic")
MAX_CURSOR_CHARS = 1000
MAX_TEXT_CHARS = 20_000  # longer is refused; the service reads only the first `types.MAX_QUERY_CHARS`
SUGGESTIONS = 8


# --- reading a search -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AskedSearch:
    """A search as a request asked for it, checked. `levels`: the NSFW levels asked for, already narrowed to
    the viewer's (None: the viewer's own; 0: none of what was asked may be shown to them)."""

    index: str = "models"
    text: str = ""
    sort: Sort = Sort.relevance
    window: Window = Window.week
    mode: Mode = "hybrid"
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    levels: int | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    facets: tuple[str, ...] = ()

    def query(self, **changes: Any) -> SearchQuery:
        asked: dict[str, Any] = {
            "index": self.index,
            "text": self.text,
            "filters": self.filters,
            "levels": self.levels,
            "sort": self.sort,
            "window": self.window,
            "mode": self.mode,
            "facets": self.facets,
            "limit": self.limit,
            "cursor": self.cursor,
        }
        return SearchQuery(**(asked | changes))


def allowed_levels(viewer: User | None) -> int:
    """What a search may show `viewer`: their browsing level, and Blocked content to moderators."""
    level = viewer_levels.browsing_level(viewer)
    return level | (int(BrowsingLevel.Blocked) if policy.is_moderator(viewer) else 0)


def read_search(params: Params, viewer: User | None, *, strict: bool, levels: int | None = None) -> AskedSearch:
    """The search a query string asks for. `strict` (the JSON API): a value it does not know is a 400; otherwise
    (the pages, which open links shared from older versions of the site) it falls back to the default. `levels`:
    the mask asked for, narrowed here to the viewer's."""
    index = _choice(params, "index", INDEXES, "models", strict=strict)
    cursor = params.text("cursor", max_length=MAX_CURSOR_CHARS)
    return AskedSearch(
        index=index,
        text=params.text("q", max_length=MAX_TEXT_CHARS) or "",
        sort=Sort(_choice(params, "sort", [sort.value for sort in Sort], Sort.relevance.value, strict=strict)),
        window=Window(_choice(params, "window", [window.value for window in Window], Window.week.value, strict=strict)),
        mode=_mode(params, strict=strict),
        filters=_filters(params, index, strict=strict),
        levels=None if levels is None else levels & allowed_levels(viewer),
        limit=(params.integer("limit", low=1, high=MAX_LIMIT) or DEFAULT_LIMIT) if strict else DEFAULT_LIMIT,
        cursor=cursor,
        facets=asked_facets(params, index) if strict else (),
    )


def _choice(params: Params, name: str, allowed: tuple[str, ...] | list[str], default: str, *, strict: bool) -> str:
    raw = params.text(name, max_length=40)
    if raw is None:
        return default
    if raw in allowed:
        return raw
    if strict:
        raise BadRequest(f"Invalid {name}: {raw!r} is not one of {', '.join(allowed)}")
    return default


def _mode(params: Params, *, strict: bool) -> Mode:
    chosen = _choice(params, "mode", MODES, "hybrid", strict=strict)
    return next(mode for mode in MODES if mode == chosen)


def _filters(params: Params, index: str, *, strict: bool) -> dict[str, tuple[str, ...]]:
    """`<facet>=<value>` pairs: a facet of another index is a 400 (strict) or ignored."""
    own = FACETS[index]
    chosen: dict[str, tuple[str, ...]] = {}
    for name in sorted(ALL_FACETS & set(params.query.keys())):
        values = tuple(dict.fromkeys(params.strings(name, split=False)))
        if not values:
            continue
        problem = _filter_problem(name, values, own, index)
        if problem is not None:
            if strict:
                raise BadRequest(problem)
            continue
        chosen[name] = values
    return chosen


def _filter_problem(name: str, values: tuple[str, ...], own: frozenset[str], index: str) -> str | None:
    if name not in own:
        return f"Invalid {name}: not a facet of {index}"
    if len(values) > MAX_FILTER_VALUES:
        return f"Invalid {name}: at most {MAX_FILTER_VALUES} values"
    if any(len(value) > MAX_VALUE_CHARS for value in values):
        return f"Invalid {name}: each value is at most {MAX_VALUE_CHARS} characters"
    return None


def asked_facets(params: Params, index: str) -> tuple[str, ...]:
    """`facets=type,base_model`: the facets to count, each one of the index's."""
    return tuple(dict.fromkeys(params.choices("facets", sorted(FACETS[index]))))


def run_search(session: Session, viewer: User | None, asked: AskedSearch, **changes: Any) -> SearchPage:
    """The service's answer; a search whose levels were all narrowed away finds nothing."""
    if asked.levels == 0:
        return SearchPage(hits=[], facets={}, total=0, total_is_lower_bound=False, next_cursor=None)
    return service.search(session, viewer, asked.query(**changes), allowed_levels=allowed_levels(viewer))


# --- turning hits into rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatorRow:
    user: User
    avatar_url: str | None
    model_count: int
    download_count: int


@dataclass(frozen=True)
class TagRow:
    name: str
    model_count: int


Row = ModelCard | FeedItem | CreatorRow | TagRow


def load_rows(session: Session, viewer: User | None, index: str, hits: list[Hit]) -> list[Any]:
    """The rows of `hits`, in their order, each as its index shows it; a hit the viewer may not see (the index
    lagging behind a change) is left out."""
    ids = [hit.entity_id for hit in hits]
    if not ids:
        return []
    if index == "models":
        return browsing.cards_for(session, viewer, ids)
    if index == "images":
        return items_for(session, viewer, ids)
    if index == "users":
        return creator_rows(session, viewer, ids)
    return tag_rows(session, viewer, ids)


def creator_rows(session: Session, viewer: User | None, user_ids: list[int]) -> list[CreatorRow]:
    """Creators with the number of their models the viewer may list, and those models' downloads."""
    users = {user.id: user for user in session.scalars(select(User).where(User.id.in_(user_ids)))}
    columns = (Model.user_id, func.count(), func.coalesce(func.sum(Model.download_count), 0))
    counted = browsing.listed(viewer, browsing.for_viewer(ModelFilters(), viewer), columns)
    counted = counted.where(Model.user_id.in_(user_ids)).group_by(Model.user_id)
    totals = {user_id: (count, int(downloads)) for user_id, count, downloads in session.execute(counted)}
    rows = []
    for user_id in user_ids:
        user = users.get(user_id)
        if user is None or user.is_banned:
            continue
        count, downloads = totals.get(user_id, (0, 0))
        rows.append(CreatorRow(user, avatar_url(user.avatar_key), model_count=count, download_count=downloads))
    return rows


def tag_rows(session: Session, viewer: User | None, tag_ids: list[int]) -> list[TagRow]:
    """Tags with the number of models carrying them that the viewer may list."""
    names = dict(session.execute(select(Tag.id, Tag.name).where(Tag.id.in_(tag_ids))).tuples().all())
    counted = (
        browsing.listed(viewer, browsing.for_viewer(ModelFilters(), viewer), (TagOnModel.tag_id, func.count()))
        .join_from(Model, TagOnModel, TagOnModel.model_id == Model.id)
        .where(TagOnModel.tag_id.in_(tag_ids))
        .group_by(TagOnModel.tag_id)
    )
    counts: dict[int, int] = {tag_id: count for tag_id, count in session.execute(counted)}
    return [TagRow(name=names[tag_id], model_count=counts.get(tag_id, 0)) for tag_id in tag_ids if tag_id in names]


# --- addresses --------------------------------------------------------------------------------------------------


def user_path(username: str) -> str:
    return f"/user/{quote(username, safe='')}"


def tag_path(name: str) -> str:
    return f"/tag/{quote(name, safe='')}"


def suggestion_path(suggestion: Suggestion) -> str:
    if suggestion.index == "models":
        return f"/models/{suggestion.entity_id}"
    if suggestion.index == "users":
        return user_path(suggestion.label)
    if suggestion.index == "tags":
        return tag_path(suggestion.label)
    return "/search?" + urlencode({"q": suggestion.label, "index": suggestion.index})


# --- the JSON API -----------------------------------------------------------------------------------------------


@router.get("/api/search")
def search_api(request: Request, viewer: Viewer, session: SessionDep) -> Response:
    """Search one index: `index`, `q`, `sort` (+ `window` for trending), `mode`, `limit` (1..100), `cursor` (the
    previous page's `nextCursor`), `facets` to count, `<facet>=<value>` filters and `browsingLevel` (a mask,
    narrowed to the caller's own browsing level). Anything it does not know is a 400."""
    params = Params(request.query_params)
    levels = params.integer("browsingLevel", low=0, high=EVERY_LEVEL)
    asked = read_search(params, viewer, strict=True, levels=levels)
    found = run_search(session, viewer, asked)
    rows = load_rows(session, viewer, asked.index, found.hits)
    base = public_url(request)
    body = {
        "items": [row_json(row, viewer, base) for row in rows],
        "facets": {
            name: [{"value": value.value, "count": value.count} for value in values]
            for name, values in found.facets.items()
        },
        "metadata": {
            "total": found.total,
            "totalIsLowerBound": found.total_is_lower_bound,
            "nextCursor": found.next_cursor,
            "correctedQuery": found.corrected_text,
        },
    }
    return _json(body)


@router.get("/api/search/suggest")
def suggest_api(request: Request, viewer: Viewer, session: SessionDep) -> Response:
    """What to suggest as `q` is typed: models, then creators, then tags whose names start like it."""
    text = Params(request.query_params).text("q", max_length=MAX_TEXT_CHARS) or ""
    base = public_url(request)
    found = suggestions(session, viewer, text)
    items = [
        {"index": item.index, "id": item.entity_id, "label": item.label, "url": base + suggestion_path(item)}
        for item in found
    ]
    return _json({"items": items})


def suggestions(session: Session, viewer: User | None, text: str) -> list[Suggestion]:
    if not text.strip():
        return []
    return service.suggest(session, viewer, text, limit=SUGGESTIONS, allowed_levels=allowed_levels(viewer))


def row_json(row: Row, viewer: User | None, base: str) -> dict[str, Any]:
    if isinstance(row, ModelCard):
        return model_json(row, base)
    if isinstance(row, FeedItem):
        return image_json(row, viewer, base)
    if isinstance(row, CreatorRow):
        return {
            "id": row.user.id,
            "username": row.user.username,
            "url": base + user_path(row.user.username),
            "modelCount": row.model_count,
            "downloadCount": row.download_count,
        }
    return {"name": row.name, "url": base + tag_path(row.name), "modelCount": row.model_count}


def model_json(card: ModelCard, base: str) -> dict[str, Any]:
    model = card.model
    return {
        "id": model.id,
        "name": model.name,
        "type": model.type.value,
        "creator": card.creator,
        "baseModel": card.base_model,
        "nsfwLevel": model_level(model),
        "downloadCount": model.download_count,
        "publishedAt": model.published_at,
        "url": f"{base}/models/{model.id}",
        "coverUrl": _absolute(card.cover.url, base) if card.cover else None,
    }


def image_json(item: FeedItem, viewer: User | None, base: str) -> dict[str, Any]:
    image = item.image
    meta = item.meta_for(viewer)
    prompt = meta.get("prompt") if meta else None
    return {
        "id": image.id,
        "url": image_url(image.storage_key, public=item.public, base=base),
        "width": image.width,
        "height": image.height,
        "nsfwLevel": image.nsfw_level,
        "creator": item.username,
        "postId": item.post.id,
        "prompt": prompt if isinstance(prompt, str) else None,
    }


def _absolute(url: str, base: str) -> str:
    return base + url if url.startswith("/") else url


def _json(body: dict[str, Any]) -> Response:
    # Results change within a second of a publish: no cache may keep them.
    return Response(
        orjson.dumps(body, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
