"""HEAD on every GET route (uptime monitors and link checkers send it): the GET's status and headers, no body.

The edge middleware routes a HEAD as a GET and drops the body on the way out (`core.edge`); a route whose GET
does more than answer (counting a download) skips that for a HEAD. Checked through the test client, and through
a real uvicorn server, which holds the response to the Content-Length it announced."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelyard.core.runtime import Runtime
from modelyard.web.templating import static_url
from tests.core.test_ratelimit import secured_client
from tests.support.catalog import create_model
from tests.support.factories import METRICS_HEADERS, create_user
from tests.support.live_server import live_server

HTML = {"Accept": "text/html,application/xhtml+xml"}
# Headers that differ between any two requests, HEAD or not.
VOLATILE = {"date", "x-request-id", "set-cookie", "x-ratelimit-remaining", "etag", "last-modified"}


def routes(runtime: Runtime) -> list[tuple[str, dict[str, str]]]:
    owner = create_user(runtime)
    model = create_model(runtime, owner, published=True)
    return [
        ("/", HTML),
        ("/healthz", {}),
        ("/models", HTML),  # a page
        (f"/models/{model.id}", HTML),  # a page that looks a model up
        ("/api/v1/models?limit=5", {}),  # the public API (a hot read)
        (f"/api/models/{model.id}", {}),  # the site's JSON API
        (f"/api/download/models/{model.version_ids[0]}", {}),  # a redirect to the file
        (static_url("css/app.css"), {}),  # a static file
        ("/models/999999", HTML),  # the error page
        ("/api/v1/models/999999", {}),  # an error in Civitai's shape
    ]


def stable(headers: httpx.Headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name not in VOLATILE}


def assert_head_matches_get(get: httpx.Response, head: httpx.Response, path: str) -> None:
    assert head.status_code == get.status_code, path
    assert stable(head.headers) == stable(get.headers), path
    assert head.content == b"", path
    if "content-length" in get.headers:
        assert int(head.headers["content-length"]) == len(get.content), path


def test_every_get_route_answers_head_alike(client: TestClient, runtime: Runtime) -> None:
    for path, headers in routes(runtime):
        get = client.get(path, headers=headers, follow_redirects=False)
        head = client.head(path, headers=headers, follow_redirects=False)
        assert get.status_code != 405, path
        assert_head_matches_get(get, head, path)


def test_a_real_server_answers_head_with_headers_only(app: FastAPI, runtime: Runtime) -> None:
    checked = routes(runtime)
    with live_server(app) as base, httpx.Client(base_url=base) as http:
        for path, headers in checked:
            get = http.get(path, headers=headers)
            head = http.head(path, headers=headers)
            assert_head_matches_get(get, head, path)
        # The connection is still usable: no stray body bytes were left on it.
        assert http.get("/healthz").status_code == 200


def test_head_on_a_route_without_get_is_refused_like_get(client: TestClient) -> None:
    get, head = client.get("/api/auth/login"), client.head("/api/auth/login")
    assert get.status_code == head.status_code == 405
    assert head.headers["allow"] == get.headers["allow"] and head.content == b""


def test_a_head_downloads_nothing_and_spends_no_download(runtime: Runtime) -> None:
    owner = create_user(runtime)
    model = create_model(runtime, owner, published=True)
    path = f"/api/download/models/{model.version_ids[0]}"
    with secured_client(runtime, downloads_per_hour=1) as client:
        for _ in range(3):
            assert client.head(path, follow_redirects=False).status_code == 307
        assert client.get(path, follow_redirects=False).status_code == 307, "HEADs left the hour's download"
        assert client.get(path, follow_redirects=False).status_code == 429
        assert client.head(path, follow_redirects=False).status_code == 429, "and say when it is spent"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_metrics_and_access_log_name_the_method_sent(client: TestClient, method: str) -> None:
    for _ in range(2):
        client.request(method, "/healthz")
    text = client.get("/metrics", headers=METRICS_HEADERS).text
    assert re.search(rf'method="{method}",route="/healthz",status="200"\}} [1-9]', text)
