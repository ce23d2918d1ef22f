"""Hot reads: GET endpoints served by plain Starlette routes tried before every other route.

A request to an endpoint of an included FastAPI router is matched twice through FastAPI's router layers, runs
inside two AsyncExitStacks and has its arguments made by FastAPI's dependency solver: on a read that runs one
indexed SELECT, that costs more CPU than the query (decision 0007). A hot read skips all three. Nothing else
changes: the endpoint is still registered on its FastAPI router (so it is documented in OpenAPI as before),
errors it raises reach the app's exception handlers, and the edge middleware, metrics by route template and
the 405 for another method treat it like any route.

What a hot read may take, checked when it is declared: path parameters typed `str`, the `Request`, and the
request-scoped helpers `DbDep` and `RuntimeDep`. It must be `async` and return a `Response` (FastAPI would
otherwise validate and serialise the value). Anything else FastAPI would parse or check needs a normal route,
or the endpoint does it itself: the v1 API reads its query parameters by hand (`api_v1.common.Params`) and
resolves the caller inside its one thread-pool hop (`accounts.auth.principal_in`).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, get_type_hints

from fastapi import APIRouter, params
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route, compile_path
from starlette.types import Scope

from modelyard.core.http import RequestDb, runtime_of

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])
# Dependencies that need nothing but the request: a hot read calls them directly.
REQUEST_PROVIDERS: frozenset[Callable[..., Any]] = frozenset({RequestDb, runtime_of})


class HotReads:
    """The hot GET endpoints of one router. `routes` must come first in the app's routes (see
    `modelyard.app`), and a hot path must not overlap a path of another route, which it would shadow."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.routes: list[HotRoute] = []

    def get(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        """Like `router.get(path, **options)`, which it calls, for an endpoint also served as a hot read."""

        def register(endpoint: Endpoint) -> Endpoint:
            route = HotRoute(self.router.prefix + path, endpoint)  # first: it refuses what it cannot serve
            self.router.get(path, **options)(endpoint)
            self.routes.append(route)
            return endpoint

        return register


class HotRoute(Route):
    def __init__(self, path: str, endpoint: Callable[..., Awaitable[Response]]) -> None:
        super().__init__(path, _adapt(endpoint, path), methods=["GET"], name=endpoint.__name__)
        # HEAD reaches every route as a GET (`core.edge`); Starlette would add it here, FastAPI routes do not.
        self.methods = {"GET"}
        self.include_in_schema = False  # FastAPI documents the endpoint from its own route

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self  # as FastAPI's routes do: metrics are labelled by the route's template
        return match, child_scope


def _adapt(endpoint: Callable[..., Awaitable[Response]], path: str) -> Callable[[Request], Awaitable[Response]]:
    """`endpoint` as a Starlette endpoint: its arguments made from the request."""
    name = f"hot read {endpoint.__module__}.{endpoint.__qualname__}"
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"{name} must be async: a sync endpoint would need a thread-pool hop of its own")
    hints = get_type_hints(endpoint, include_extras=True)
    returns = hints.pop("return", None)
    if not (inspect.isclass(returns) and issubclass(returns, Response)):
        raise TypeError(f"{name} must return a Response: nothing validates or serialises what it returns")
    path_params = set(compile_path(path)[2])
    arguments = [(parameter, _argument(name, parameter, hint, path_params)) for parameter, hint in hints.items()]

    async def handle(request: Request) -> Response:
        return await endpoint(**{parameter: make(request) for parameter, make in arguments})

    return handle


def _argument(name: str, parameter: str, hint: Any, path_params: set[str]) -> Callable[[Request], Any]:
    if parameter in path_params and hint is str:
        return lambda request: request.path_params[parameter]
    if hint is Request:
        return lambda request: request
    for metadata in getattr(hint, "__metadata__", ()):
        if isinstance(metadata, params.Depends) and metadata.dependency in REQUEST_PROVIDERS:
            provider: Callable[[Request], Any] = metadata.dependency
            return provider
    raise TypeError(
        f"{name} takes {parameter}: {hint!r}, which only FastAPI can provide; a hot read takes str path "
        "parameters, the Request, DbDep and RuntimeDep"
    )
