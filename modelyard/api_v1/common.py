"""What every `/api/v1` endpoint shares: Civitai's error bodies, its tolerant parameter parsing, CORS and cache
headers, and the browsing level a request asks for.

Parameters are read from the query string by hand rather than validated by FastAPI, because real clients send
what Civitai tolerates: `true` and `True`, lists repeated or comma-joined, empty values. A bad value raises the
usual `BadRequest` naming the parameter; `api_v1.errors` (registered on the app) renders every error under
`/api/v1/` in Civitai's shape, `{"error": "..."}`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from modelyard.accounts.auth import ANONYMOUS, Principal, presents_credentials, principal_in
from modelyard.catalog.lifecycle.effects import PUBLIC_CATALOG_TAG
from modelyard.core import paging
from modelyard.core.errors import BadRequest, RateLimited
from modelyard.core.forwarded import public_url
from modelyard.core.http import RequestDb, runtime_of
from modelyard.core.params import ID_MAX
from modelyard.images import nsfw

PUBLIC_CACHE = "public, s-maxage=300, stale-while-revalidate=150"
MAX_OFFSET_ITEMS = 1000  # Civitai's limit on page x limit; deeper lists page by cursor
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class Params:
    """The query string with Civitai's parsing rules; every getter raises a 400 naming the parameter."""

    def __init__(self, query: QueryParams) -> None:
        self.query = query

    def text(self, name: str, *, max_length: int = 500) -> str | None:
        value = self.query.get(name)
        if value is None or value.strip() == "":
            return None
        if len(value) > max_length:
            raise BadRequest(f"Invalid {name}: at most {max_length} characters")
        if "\x00" in value:  # no database text holds one (PostgreSQL refuses it outright)
            raise BadRequest(f"Invalid {name}: contains a NUL character")
        return value.strip()

    def integer(self, name: str, *, low: int, high: int, default: int | None = None) -> int | None:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(float(raw)) if "." in raw else int(raw)
        except ValueError:
            raise BadRequest(f"Invalid {name}: {raw!r} is not a number") from None
        if not low <= value <= high:
            raise BadRequest(f"Invalid {name}: must be between {low} and {high}")
        return value

    def boolean(self, name: str) -> bool | None:
        raw = self.text(name)
        if raw is None:
            return None
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise BadRequest(f"Invalid {name}: expected true or false")

    def strings(self, name: str, *, split: bool = True) -> list[str]:
        """A list given as repeated parameters, comma-joined values, or both."""
        values: list[str] = []
        for raw in self.query.getlist(name):
            if "\x00" in raw:
                raise BadRequest(f"Invalid {name}: contains a NUL character")
            parts = raw.split(",") if split else [raw]
            values.extend(part.strip() for part in parts if part.strip())
        return values

    def choices(self, name: str, allowed: Iterable[str], *, split: bool = True) -> list[str]:
        known = {value.lower(): value for value in allowed}
        chosen = []
        for value in self.strings(name, split=split):
            if value.lower() not in known:
                raise BadRequest(f"Invalid {name}: {value!r} is not one of {', '.join(known.values())}")
            chosen.append(known[value.lower()])
        return chosen

    def integers(self, name: str, *, limit: int = 1000) -> list[int]:
        """A list of ids: each in an id column's range (`core.params.ID_MAX`), so none reaches the database
        driver as an overflow."""
        values = self.strings(name)
        if len(values) > limit:
            raise BadRequest(f"Invalid {name}: at most {limit} values")
        try:
            numbers = [int(value) for value in values]
        except ValueError:
            raise BadRequest(f"Invalid {name}: expected comma-separated whole numbers") from None
        if not all(1 <= number <= ID_MAX for number in numbers):
            raise BadRequest(f"Invalid {name}: each must be between 1 and {ID_MAX}")
        return numbers

    def browsing_level(self) -> int:
        """The levels asked for: `browsingLevel` (a bitmask) wins over `nsfw`; no `nsfw` means PG only."""
        level = self.integer("browsingLevel", low=0, high=nsfw.EVERY_LEVEL)
        return nsfw.asked_level(level, self.boolean("nsfw") if level is None else None)


def path_id(raw: str) -> int:
    """An id from the path: a whole number in PostgreSQL's int4 range, else 400 (Civitai's rule)."""
    try:
        number = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid id: {raw!r} is not a number") from None
    if not 1 <= number <= ID_MAX:
        raise BadRequest(f"Invalid id: must be between 1 and {ID_MAX}")
    return number


JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def public_json(
    principal: Principal,
    data: Any,
    *,
    status_code: int = 200,
    body: bytes | None = None,
    public_cache: str = PUBLIC_CACHE,
) -> Response:
    """A response as Civitai's public endpoints send it: CORS open, and cached at the edge (`public_cache`) unless
    personal. Pages of models run to hundreds of kilobytes: orjson writes them several times faster than `json`,
    and writes the (UTC) datetimes in them as Civitai does, `2024-05-01T12:00:00.123456Z`, naive ones as UTC
    (`rows.utc_naive`). `body`: the JSON already written."""
    headers = {"Access-Control-Allow-Origin": "*"}
    if principal.user is None:
        headers["Cache-Control"] = public_cache
        # A shared cache must not give the anonymous page to a caller with credentials (an owner sees their own
        # unlisted models), nor theirs to anyone: the answer depends on who asks.
        headers["Vary"] = "Authorization, Cookie"
    else:
        headers["Cache-Control"] = "private, no-store"
    return Response(
        body if body is not None else orjson.dumps(data, option=JSON_OPTIONS),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def cached_public_json(
    request: Request,
    principal: Principal,
    key: str,
    build: Callable[[], Any],
    *,
    personal: bool,
    public_cache: str = PUBLIC_CACHE,
) -> Response:
    """`public_json(principal, build())`, the body served from the cache when the same `key` was built less than
    `api_v1_cache_seconds` ago and no model changed since (`catalog.effects.PUBLIC_CATALOG_TAG`). A `personal`
    body (it depends on who asks) is always built. Errors are never cached: `build` raising stores nothing."""
    runtime = runtime_of(request)
    ttl = runtime.settings.api_v1_cache_seconds
    if personal or ttl == 0:
        return public_json(principal, build(), public_cache=public_cache)

    def text() -> str:
        return orjson.dumps(build(), option=JSON_OPTIONS).decode()

    body = runtime.cache.get_or_set(_cache_key(request, key), text, ttl=ttl, tags=[PUBLIC_CATALOG_TAG])
    return public_json(principal, None, body=body.encode(), public_cache=public_cache)


def signed_in(session: Session, principal: Principal) -> bool:
    """`public_read`'s default rule for a personal body: everyone signed in gets their own."""
    return principal.user is not None


def nobody(session: Session, principal: Principal) -> bool:
    """For a body that is the same whoever asks."""
    return False


async def public_read(
    request: Request,
    db: RequestDb,
    build: Callable[[Session, Principal], Any],
    *,
    cache_key: str | None = None,
    personal: Callable[[Session, Principal], bool] = signed_in,
    public_cache: str = PUBLIC_CACHE,
) -> Response:
    """A hot v1 read (`core.hot`): `build(session, principal)` and the caller's identity resolved in ONE
    thread-pool hop, answered as `public_json`. With a `cache_key` the body is cached as `cached_public_json`
    caches it, unless `personal(session, principal)` says this caller's body is their own. An anonymous caller
    whose body this process holds is answered at once, without a hop or any I/O."""
    ttl = db.runtime.settings.api_v1_cache_seconds
    if cache_key is not None and ttl and not presents_credentials(request):
        held = db.runtime.cache.peek(_cache_key(request, cache_key))
        if held is not None:
            return public_json(ANONYMOUS, None, body=held.encode(), public_cache=public_cache)

    def work(session: Session) -> Response:
        principal = principal_in(request, session)
        if cache_key is None or not ttl:  # nothing to look up, nor to ask `personal`
            return public_json(principal, build(session, principal), public_cache=public_cache)
        body = partial(build, session, principal)
        own = personal(session, principal)
        return cached_public_json(request, principal, cache_key, body, personal=own, public_cache=public_cache)

    return await db.run(work)


def _cache_key(request: Request, key: str) -> str:
    # Bodies hold absolute URLs built on the address the request came to (`core.forwarded`): one host's must not
    # be served to a client that came by another.
    return f"api-v1:{public_url(request)}:{key}"


def canonical_query(request: Request) -> str:
    """The query string with its parameters in a fixed order: one cache key for the same question."""
    return urlencode(sorted(request.query_params.multi_items()))


def next_page_url(request: Request, changes: Mapping[str, str]) -> str:
    """The current URL on the public base URL with `changes` applied to its query (`metadata.nextPage`)."""
    params = [(key, value) for key, value in request.query_params.multi_items() if key not in changes]
    params.extend(changes.items())
    base = public_url(request)
    return f"{base}{request.url.path}?{urlencode(params)}"


def v1_page_request(params: Params, *, default_limit: int, max_limit: int) -> paging.PageRequest:
    """`limit` (0 or absent: the default, as Civitai), `page` and `cursor`, with Civitai's rule that offsets stop
    at MAX_OFFSET_ITEMS (a 429 telling the client to use cursors)."""
    limit = params.integer("limit", low=0, high=max_limit, default=default_limit) or default_limit
    page = params.integer("page", low=1, high=paging.MAX_OFFSET)
    if page is not None and page * limit > MAX_OFFSET_ITEMS:
        raise RateLimited("You've requested too many pages, please use cursors instead")
    cursor = params.text("cursor", max_length=paging.CURSOR_MAX_LENGTH)
    return paging.page_request(limit=limit, default_limit=default_limit, max_limit=max_limit, page=page, cursor=cursor)


def page_metadata(
    request: Request, asked: paging.PageRequest, *, more: bool, cursor: str | int | None
) -> dict[str, Any]:
    """Civitai's `metadata`: `currentPage` and `pageSize` when asked by page, else `nextCursor`; `nextPage` (the
    same URL for the next page) when more follow."""
    metadata: dict[str, Any] = {}
    if asked.page is not None:
        metadata.update({"currentPage": asked.page, "pageSize": asked.limit})
        if more:
            metadata["nextPage"] = next_page_url(request, {"page": str(asked.page + 1)})
    elif more and cursor is not None:
        metadata["nextCursor"] = cursor
        metadata["nextPage"] = next_page_url(request, {"cursor": str(cursor)})
    return metadata


def query_docs(*specs: tuple[str, str, str]) -> dict[str, Any]:
    """OpenAPI descriptions of query parameters read by `Params` (name, kind, description); kind is `integer`,
    `boolean`, `string`, or `list` for values repeated or comma-joined."""
    parameters = []
    for name, kind, description in specs:
        schema: dict[str, Any] = {"type": kind}
        if kind == "list":
            schema = {"type": "array", "items": {"type": "string"}}
        parameters.append(
            {"name": name, "in": "query", "required": False, "description": description, "schema": schema}
        )
    return {"parameters": parameters}
