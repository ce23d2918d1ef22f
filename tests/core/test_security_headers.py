"""Security headers on every response: pages, JSON, static files, errors, and what a route sets itself wins."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse

from modelyard.core.runtime import Runtime, set_runtime
from modelyard.core.security_headers import content_security_policy
from modelyard.core.settings import Settings

HTML = {"Accept": "text/html,application/xhtml+xml"}
EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


@contextmanager
def secured_client(runtime: Runtime, **settings: Any) -> Iterator[TestClient]:
    from modelyard.app import create_app

    prefix = f"{runtime.settings.redis_key_prefix}-{uuid.uuid4().hex[:8]}"
    copy = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"redis_key_prefix": prefix, **settings})
    )
    app = create_app(runtime=copy)
    router = APIRouter()

    @router.get("/api/test/own-headers")
    def own_headers() -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Content-Security-Policy": "sandbox", "X-Frame-Options": "SAMEORIGIN"})

    @router.get("/api/test/crash")
    def crash() -> None:
        raise RuntimeError("boom")

    app.include_router(router)
    try:
        # No `with`: the app's lifespan would stop the shared runtime's event bus on the way out.
        yield TestClient(app, raise_server_exceptions=False)
    finally:
        set_runtime(runtime)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with secured_client(runtime) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/", HTML, 200),
        ("/status", HTML, 200),
        ("/docs", HTML, 200),
        ("/openapi.json", {}, 200),
        ("/static/css/app.css", {}, 200),
        ("/healthz", {}, 200),
        ("/api/nothing-here", {}, 404),
        ("/nothing-here", HTML, 404),
        ("/api/test/crash", {}, 500),
    ],
)
def test_every_response_carries_the_headers(
    client: TestClient, path: str, headers: dict[str, str], status: int
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == status
    for name, value in EXPECTED.items():
        assert response.headers.get_list(name) == [value], name
    assert isinstance(client.app, FastAPI)
    assert response.headers["content-security-policy"] == content_security_policy(client.app.state.runtime.settings)
    assert "strict-transport-security" not in response.headers


def test_the_policy_allows_no_inline_code(settings: Settings) -> None:
    local = settings.model_copy(update={"storage_backend": "local"})
    policy = dict(part.split(" ", 1) for part in content_security_policy(local).split("; "))
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["img-src"] == "'self' data: blob:"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in content_security_policy(local)


def test_the_policy_lets_pages_show_and_upload_files_in_s3(settings: Settings) -> None:
    s3 = settings.model_copy(update={"storage_backend": "s3", "s3_endpoint_url": "http://127.0.0.1:9000/base"})
    policy = dict(part.split(" ", 1) for part in content_security_policy(s3).split("; "))
    assert policy["img-src"] == "'self' data: blob: http://127.0.0.1:9000"
    assert policy["connect-src"] == "'self' http://127.0.0.1:9000"
    aws = settings.model_copy(
        update={"storage_backend": "s3", "s3_endpoint_url": None, "s3_bucket": "yard", "s3_region": "eu-west-1"}
    )
    assert "https://yard.s3.eu-west-1.amazonaws.com" in content_security_policy(aws)


def test_hsts_only_when_the_site_is_https(runtime: Runtime) -> None:
    with secured_client(runtime, public_base_url="https://models.example.org") as client:
        response = client.get("/healthz")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_headers_a_route_set_itself_are_kept(client: TestClient) -> None:
    response = client.get("/api/test/own-headers")
    assert response.headers.get_list("content-security-policy") == ["sandbox"]
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_rate_limited_answer_carries_the_headers(runtime: Runtime) -> None:
    with secured_client(runtime, rate_limit_ip_per_minute=1) as client:
        client.get("/api/nothing-here")
        refused = client.get("/api/nothing-here")
    assert refused.status_code == 429
    assert refused.headers["x-frame-options"] == "DENY"


def test_api_docs_start_swagger_ui_without_inline_script(client: TestClient) -> None:
    page = client.get("/docs").text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all('src="' in attributes and not body.strip() for attributes, body in scripts)
    assert re.search(r'src="/static/js/swagger-init\.js\?v=\w+"', page)
    assert 'data-openapi-url="/openapi.json"' in page
    assert "style=" not in page
