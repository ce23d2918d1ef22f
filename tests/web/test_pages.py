"""The web shell over plain HTTP: pages, fragments, error pages, static caching, no inline code."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from starlette.requests import Request

from modelyard.core.runtime import Runtime
from modelyard.web import pages, templating
from modelyard.web.templating import StaticUrls, nav_items, register_nav, render_error_page
from tests.support.factories import METRICS_HEADERS

HTML = {"Accept": "text/html,application/xhtml+xml"}


class PageScan(HTMLParser):
    """Collects what the CSP (no unsafe-inline) would block, plus links and headings to assert on."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.script_srcs: list[str] = []
        self.style_attributes: list[str] = []
        self.handler_attributes: list[str] = []
        self.style_tags = 0
        self.links: list[str] = []
        self.nav_links: list[str] = []
        self.h1: list[str] = []
        self._in_script = False
        self._in_nav = False
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, _value in attrs:
            if name == "style":
                self.style_attributes.append(tag)
            if name.startswith("on") or name.startswith("hx-on"):
                self.handler_attributes.append(f"{tag}[{name}]")
        if tag == "script":
            self._in_script = True
            if values.get("src"):
                self.script_srcs.append(values["src"] or "")
        elif tag == "style":
            self.style_tags += 1
        elif tag == "a":
            self.links.append(values.get("href") or "")
            if self._in_nav:
                self.nav_links.append(values.get("href") or "")
        elif tag == "nav" and values.get("aria-label") == "Main":
            self._in_nav = True
        elif tag == "h1":
            self._in_h1 = True
            self.h1.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False
        elif tag == "nav":
            self._in_nav = False
        elif tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1
        if self._in_h1:
            self.h1[-1] += data


def scan(html: str) -> PageScan:
    parser = PageScan()
    parser.feed(html)
    return parser


def test_home_renders_nav_hero_and_search(client: TestClient) -> None:
    response = client.get("/", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = scan(response.text)
    assert page.nav_links == ["/", "/models", "/images", "/status", "/docs"]
    assert "on your own server" in page.h1[0]
    assert 'role="search"' in response.text and 'name="q"' in response.text
    assert "No models published yet" in response.text
    assert "What you can do here" in response.text
    for feature in ("Publish models", "Discover", "Showcase images", "Use your tools"):
        assert feature in response.text


def test_home_offers_only_what_this_server_can_do(client: TestClient) -> None:
    """Generation, training and Buzz are not on this server yet: the landing page does not promise them."""
    text = client.get("/", headers=HTML).text.lower()
    for promise in ("generate", "train", "buzz", "currency", "gpu"):
        assert promise not in text, promise


def test_home_search_explains_that_nothing_is_published(client: TestClient) -> None:
    response = client.get("/", params={"q": "<b>anime</b>"}, headers=HTML)
    assert response.status_code == 200
    assert "No models match “&lt;b&gt;anime&lt;/b&gt;”" in response.text
    assert "<b>anime</b>" not in response.text


def test_footer_shows_version_and_links(client: TestClient) -> None:
    from modelyard import __version__

    page = client.get("/", headers=HTML).text
    assert f"v{__version__}" in page
    links = scan(page).links
    assert "/docs" in links and "/status" in links


def test_status_page_shows_setup_checks_and_jobs(client: TestClient, runtime: Runtime) -> None:
    response = client.get("/status", headers=HTML)
    assert response.status_code == 200
    text = response.text
    assert f"<dd>{runtime.db.dialect}</dd>" in text
    assert f"<dd>{runtime.storage.name}</dd>" in text
    assert "All systems operational" in text
    assert 'id="status-checks"' in text and 'hx-get="/status/checks"' in text
    assert 'hx-trigger="every 10s"' in text
    for state in ("pending", "running", "succeeded", "dead"):
        assert f"job-count--{state}" in text


def test_status_checks_fragment_is_just_the_panel(client: TestClient) -> None:
    response = client.get("/status/checks", headers=HTML)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.text.lstrip().startswith('<section id="status-checks"')
    assert "<html" not in response.text
    assert "database" in response.text


def test_status_names_a_failing_dependency(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(runtime: Runtime) -> dict[str, dict[str, Any]]:
        return {"database": {"ok": True}, "storage": {"ok": False, "error": "OSError: disk <full>"}}

    monkeypatch.setattr(pages, "check_dependencies", failing)
    text = client.get("/status/checks", headers=HTML).text
    assert "Something needs attention" in text
    assert "OSError: disk &lt;full&gt;" in text


def test_status_page_renders_when_jobs_cannot_be_counted(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(session: object) -> dict[str, int]:
        raise OperationalError("SELECT", {}, Exception("database is gone"))

    monkeypatch.setattr(pages, "count_by_status", broken)
    response = client.get("/status", headers=HTML)
    assert response.status_code == 200
    assert "Job counts are unavailable" in response.text


def test_unknown_page_gets_the_html_404(client: TestClient) -> None:
    response = client.get("/no/such/page", headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    page = scan(response.text)
    assert page.h1 == ["Page not found"]
    assert "Nothing at /no/such/page" in response.text


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/no/such/page", "application/json"),
        ("/api/no/such/thing", "text/html"),
    ],
)
def test_unknown_path_gets_json_for_api_clients(client: TestClient, path: str, accept: str) -> None:
    response = client.get(path, headers={"Accept": accept})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_error_page_shows_the_request_id(app: FastAPI) -> None:
    body = {"error": "internal_error", "detail": "Something broke.", "request_id": "req-123abc"}
    response = render_error_page(_request(app), 500, body)
    assert response.status_code == 500
    text = bytes(response.body).decode()
    assert "Something went wrong" in text and "req-123abc" in text


def test_error_page_falls_back_to_plain_html(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("template exploded")

    monkeypatch.setattr(templating, "render", broken)
    body = {"error": "unavailable", "detail": "Database <down>", "request_id": "abc"}
    response = render_error_page(_request(app), 503, body, headers={"Retry-After": "5"})
    text = bytes(response.body).decode()
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert "Temporarily unavailable" in text and "Database &lt;down&gt;" in text and "abc" in text


def _request(app: FastAPI) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/broken",
            "headers": [],
            "query_string": b"",
            "app": app,
            "scheme": "http",
            "server": ("testserver", 80),
        }
    )


def test_versioned_static_file_is_cached_for_good(client: TestClient, runtime: Runtime) -> None:
    url = templating.static_url("css/app.css")
    assert "?v=" in url
    response = client.get(url)
    assert response.status_code == 200
    max_age = runtime.settings.static_max_age_seconds
    assert response.headers["cache-control"] == f"public, max-age={max_age}, immutable"


def test_unversioned_static_file_is_cached_briefly(client: TestClient) -> None:
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"


def test_missing_static_file_is_a_404_without_cache_header(client: TestClient) -> None:
    response = client.get("/static/css/nope.css?v=123")
    assert response.status_code == 404
    assert "immutable" not in response.headers.get("cache-control", "")


def test_static_url_hash_follows_file_content(tmp_path: Path) -> None:
    asset = tmp_path / "css" / "site.css"
    asset.parent.mkdir()
    asset.write_text("body { color: red; }")
    first = StaticUrls(tmp_path)("css/site.css")
    assert first.startswith("/static/css/site.css?v=") and len(first.rsplit("=", 1)[1]) == 12

    asset.write_text("body { color: blue; }")
    cached = StaticUrls(tmp_path)
    assert cached("css/site.css") != first
    asset.write_text("body { color: green; }")
    assert cached("/css/site.css") == cached("css/site.css"), "hashed once per process"


def test_static_url_of_missing_or_outside_file_has_no_version(tmp_path: Path) -> None:
    urls = StaticUrls(tmp_path)
    assert urls("missing.js") == "/static/missing.js"
    assert "?v=" not in urls("../etc/passwd")


def test_nav_registry_sorts_and_deduplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templating, "_nav", {})
    register_nav("Models", "/models", order=10)
    register_nav("Home", "/", order=0)
    register_nav("Models again", "/models", order=20)
    assert [(item.label, item.path) for item in nav_items()] == [("Home", "/"), ("Models again", "/models")]


@pytest.mark.parametrize("path", ["/", "/?q=test", "/status", "/status/checks", "/no/such/page"])
def test_pages_have_no_inline_script_or_style(client: TestClient, path: str) -> None:
    page = scan(client.get(path, headers=HTML).text)
    assert page.inline_scripts == 0
    assert page.style_attributes == []
    assert page.handler_attributes == []
    assert page.style_tags == 0
    assert all(src.startswith("/static/") and "?v=" in src for src in page.script_srcs)


def test_vendored_htmx_is_version_2() -> None:
    static = Path(templating.STATIC_DIR)
    assert (static / "js" / "htmx.LICENSE.txt").read_text().startswith("htmx 2.")
    assert 'version:"2.' in (static / "js" / "htmx.min.js").read_text()


def test_api_docs_load_swagger_ui_from_this_server(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn.jsdelivr.net" not in page.text
    assets = re.findall(r'"(/static/vendor/swagger-ui/[^"]+)"', page.text)
    assert len(assets) == 2
    for url in assets:
        assert client.get(url).status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "Modelyard"


def test_metrics_label_docs_and_static_by_route_not_unmatched(client: TestClient) -> None:
    client.get("/openapi.json")
    client.get("/static/css/app.css")
    text = client.get("/metrics", headers=METRICS_HEADERS).text
    assert 'route="/openapi.json",status="200"' in text
    assert 'route="/static/{path}",status="200"' in text


def test_home_shows_the_latest_models_and_finds_them_by_name(runtime, client):
    from tests.search.test_listing_search import index_all
    from tests.support.catalog import create_model
    from tests.support.factories import create_user

    owner = create_user(runtime)
    create_model(runtime, owner, name="Ink_Wash Style", published=True)
    create_model(runtime, owner, name="Hidden draft")
    index_all(runtime)  # a search goes through the search indexes
    page = client.get("/", headers=HTML).text
    assert "Ink_Wash Style" in page and "Hidden draft" not in page
    assert "Ink_Wash Style" in client.get("/?q=ink_wash", headers=HTML).text
    assert "No models match" in client.get("/", params={"q": "in%sh"}, headers=HTML).text  # "%" is no wildcard
    assert "No models match" in client.get("/?q=hidden", headers=HTML).text
