"""Hot reads (modelyard.core.hot): served by a plain Starlette route, they answer exactly as FastAPI's route for
the same endpoint does, FastAPI still documents them, and an endpoint they cannot serve faithfully is refused
when it is declared."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.testclient import TestClient
from starlette.responses import Response

from modelyard.core.hot import HotReads, HotRoute
from modelyard.core.http import DbDep, RuntimeDep
from modelyard.core.runtime import Runtime, set_runtime
from tests.support.factories import create_user


@pytest.fixture
def without_hot_routes(runtime: Runtime) -> Iterator[TestClient]:
    """The app with its hot routes taken out: every request goes through FastAPI's own route."""
    from modelyard.app import create_app

    app = create_app(runtime=runtime)
    app.router.routes[:] = [route for route in app.router.routes if not isinstance(route, HotRoute)]
    try:
        # No `with`: the app's lifespan would stop the shared runtime's event bus on the way out.
        yield TestClient(app, raise_server_exceptions=False)
    finally:
        set_runtime(runtime)


def test_the_app_serves_the_profile_read_from_a_hot_route(app: FastAPI) -> None:
    hot = [route for route in app.router.routes if isinstance(route, HotRoute)]
    assert [route.path for route in hot] == ["/api/users/{username}"]
    assert app.router.routes[0] is hot[0], "hot routes are tried before every other route"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/users/{name}"),
        ("GET", "/api/users/{upper}"),
        ("GET", "/api/users/nobody-here"),
        ("POST", "/api/users/{name}"),
        ("HEAD", "/api/users/{name}"),
    ],
)
def test_a_hot_route_answers_as_the_fastapi_route_would(
    client: TestClient, without_hot_routes: TestClient, runtime: Runtime, method: str, path: str
) -> None:
    user = create_user(runtime)
    url = path.format(name=user.username, upper=user.username.upper())
    hot, plain = client.request(method, url), without_hot_routes.request(method, url)
    assert (hot.status_code, hot.content) == (plain.status_code, plain.content)
    assert drop_request_id(hot.headers) == drop_request_id(plain.headers)


def current_user() -> str:
    return "someone"


def drop_request_id(headers: object) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers.multi_items() if name != "x-request-id"]  # type: ignore[attr-defined]


def test_the_endpoint_is_still_documented(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/users/{username}"]["get"]
    assert operation["description"] == "A user's public profile. Usernames match case-insensitively."
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PublicUser"
    }
    assert "404" in operation["responses"]


def test_request_scoped_helpers_and_path_parameters_are_passed(runtime: Runtime) -> None:
    hot = HotReads(APIRouter(prefix="/api/test"))

    @hot.get("/echo/{word}")
    async def echo(word: str, db: DbDep, runtime: RuntimeDep) -> Response:
        return Response(f"{word} {type(db).__name__} {type(runtime).__name__}")

    assert [route.path for route in hot.routes] == ["/api/test/echo/{word}"]
    app = FastAPI()
    app.state.runtime = runtime
    app.router.routes[0:0] = hot.routes
    response = TestClient(app).get("/api/test/echo/hello")
    assert response.text == "hello RequestDb Runtime"


def test_an_endpoint_needing_fastapi_is_refused_when_declared() -> None:
    hot = HotReads(APIRouter())

    with pytest.raises(TypeError, match="takes limit"):

        @hot.get("/a/{word}")
        async def with_query(word: str, limit: Annotated[int, Query()] = 10) -> Response:
            return Response()

    with pytest.raises(TypeError, match="takes user"):

        @hot.get("/b")
        async def with_dependency(user: Annotated[str, Depends(current_user)]) -> Response:
            return Response()

    with pytest.raises(TypeError, match="must be async"):

        @hot.get("/c")
        def sync_endpoint() -> Response:  # type: ignore[type-var]
            return Response()

    with pytest.raises(TypeError, match="must return a Response"):

        @hot.get("/d")
        async def returns_a_value() -> dict[str, str]:  # type: ignore[type-var]
            return {}
