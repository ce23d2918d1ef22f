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
from tests.api_v1.test_versions import hashes_of
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user


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


def test_the_app_serves_its_hottest_reads_from_hot_routes(app: FastAPI) -> None:
    hot = [route for route in app.router.routes if isinstance(route, HotRoute)]
    assert sorted(route.path for route in hot) == [
        "/api/users/{username}",
        "/api/v1/model-versions/by-hash/{hash_value}",
        "/api/v1/models",
    ]
    assert app.router.routes[: len(hot)] == hot, "hot routes are tried before every other route"


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


@pytest.mark.parametrize(
    ("method", "path", "signed_in"),
    [
        ("GET", "/api/v1/models?limit=2&sort=Newest", False),
        ("GET", "/api/v1/models?limit=2&sort=Newest", True),
        ("GET", "/api/v1/models?limit=nope", False),
        ("GET", "/api/v1/model-versions/by-hash/{sha256}", False),
        ("GET", "/api/v1/model-versions/by-hash/{sha256}", True),
        ("GET", "/api/v1/model-versions/by-hash/{missing}", False),
        ("GET", "/api/v1/model-versions/by-hash/not-a-hash", False),
        ("POST", "/api/v1/models", False),
        ("HEAD", "/api/v1/models", False),
    ],
)
def test_the_v1_hot_routes_answer_as_the_fastapi_routes_would(
    client: TestClient, without_hot_routes: TestClient, runtime: Runtime, method: str, path: str, signed_in: bool
) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, name="Hot", published=True, with_post=False)
    create_model(runtime, owner, name="Draft", published=False, with_post=False)
    url = path.format(sha256=hashes_of(runtime, made.file_ids[0])["SHA256"].lower(), missing="AB" * 32)
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"} if signed_in else {}
    # Twice each, so that a cached answer is compared too.
    for _ in range(2):
        hot, plain = (
            client.request(method, url, headers=headers),
            without_hot_routes.request(method, url, headers=headers),
        )
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
