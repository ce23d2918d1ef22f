"""Core renders errors on its own (the JSON body, a plain page for browsers) and lets domains register better ones:
the site's styled page (`web`), an API's own error shape under its prefix (`api_v1`). Tested on a bare app with
only core's handlers, so nothing a domain registers is in the way."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel

from modelyard.core.errors import NotFound
from modelyard.core.http import ApiErrorShape, install_error_handlers, register_api_errors, register_error_page

HTML = {"Accept": "text/html"}


def bare_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/things/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        raise NotFound(f"No thing {thing_id}")

    @app.get("/labels/{label}")
    def label(label: str) -> dict[str, str]:
        raise NotFound(f"No label {label}")

    @app.get("/api/v9/things/{thing_id}")
    def api_thing(thing_id: int) -> dict[str, int]:
        raise NotFound(f"No thing {thing_id}")

    return app


class ShortError(BaseModel):
    message: str


def short_error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"message": body["detail"]}, status_code=400 if status == 422 else status, headers=headers)


def test_without_registrations_core_answers_json_and_a_plain_page() -> None:
    client = TestClient(bare_app())
    assert client.get("/things/7").json() == {"error": "not_found", "detail": "No thing 7"}
    page = client.get("/things/7", headers=HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1><p>No thing 7</p>" in page.text


def test_a_registered_error_page_answers_browsers() -> None:
    app = bare_app()

    def styled(request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None) -> Response:
        return HTMLResponse(f"<main>styled {status}: {body['detail']}</main>", status_code=status, headers=headers)

    register_error_page(app, styled)
    client = TestClient(app)
    assert client.get("/things/7", headers=HTML).text == "<main>styled 404: No thing 7</main>"
    assert client.get("/things/7").json()["error"] == "not_found", "API clients still get JSON"


def test_a_failing_error_page_falls_back_to_the_plain_one(caplog: pytest.LogCaptureFixture) -> None:
    app = bare_app()

    def broken(request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None) -> Response:
        raise RuntimeError("template exploded")

    register_error_page(app, broken)
    with caplog.at_level(logging.ERROR):
        page = TestClient(app).get("/labels/<i>bold", headers=HTML)
    assert page.status_code == 404 and "<h1>Page not found</h1>" in page.text
    assert "No label &lt;i&gt;bold" in page.text and "<i>" not in page.text, "what the request brought is escaped"
    assert [r.getMessage() for r in caplog.records] == ["error page failed to render"]


def test_an_api_shape_answers_under_its_prefix_only_and_is_documented() -> None:
    app = bare_app()
    register_api_errors(
        app, ApiErrorShape(prefix="/api/v9/", render=short_error, body_model=ShortError, unreadable_status=400)
    )
    client = TestClient(app)
    assert client.get("/api/v9/things/7").json() == {"message": "No thing 7"}
    unreadable = client.get("/api/v9/things/seven")
    assert unreadable.status_code == 400 and set(unreadable.json()) == {"message"}
    assert client.get("/things/7").json()["error"] == "not_found", "other paths keep the JSON API's shape"
    paths = app.openapi()["paths"]
    shaped = paths["/api/v9/things/{thing_id}"]["get"]["responses"]
    assert "422" not in shaped and "400" in shaped
    assert shaped["4XX"]["content"]["application/json"]["schema"]["$ref"].endswith("/ShortError")
    plain = paths["/things/{thing_id}"]["get"]["responses"]
    assert plain["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ValidationErrorBody")
