"""The pages under the real Content-Security-Policy in Chromium: nothing refused, and Swagger UI still renders."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from modelyard.core.runtime import Runtime, set_runtime
from tests.support.live_server import live_server
from tests.web.test_browser import browser as browser

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# Runs before any page script; violations are also reported as events, not only as console lines.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""

if not CHROMIUM.exists():
    pytest.skip(
        f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing; run scripts/ensure-chromium.sh to install it",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def base_url(runtime: Runtime) -> Iterator[str]:
    from modelyard.app import create_app

    prefix = f"{runtime.settings.redis_key_prefix}-{uuid.uuid4().hex[:8]}"
    copy = dataclasses.replace(runtime, settings=runtime.settings.model_copy(update={"redis_key_prefix": prefix}))
    app = create_app(runtime=copy)
    set_runtime(runtime)
    # lifespan off: the shared runtime's event bus keeps running after this server stops.
    with live_server(app, lifespan="off") as url:
        yield url


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url)
    context.add_init_script(RECORD_VIOLATIONS)
    yield context.new_page()
    context.close()


def load(page: Page, path: str) -> list[str]:
    """Open `path` and return the console errors and CSP violations it caused."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    response = page.goto(path, wait_until="networkidle")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
    return problems + [f"violation: {v}" for v in page.evaluate("window.__cspViolations")]


@pytest.mark.parametrize("path", ["/", "/status"])
def test_pages_run_under_the_policy(page: Page, path: str) -> None:
    assert load(page, path) == []
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("document.documentElement.dataset.theme") in ("dark", "light"), "app.js ran"


def test_swagger_ui_renders_under_the_policy(page: Page) -> None:
    problems = load(page, "/docs")
    page.locator(".swagger-ui .info .title").wait_for(timeout=10_000)
    assert "Modelyard" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".swagger-ui .opblock").count() > 0, "the operations are listed"
    problems += [f"violation: {v}" for v in page.evaluate("window.__cspViolations")]
    assert problems == []


def test_a_swagger_operation_expands_under_the_policy(page: Page) -> None:
    load(page, "/docs")
    operation = page.locator(".swagger-ui .opblock").first
    operation.locator(".opblock-summary").click()
    operation.locator(".opblock-body").wait_for(timeout=5_000)
    assert page.evaluate("window.__cspViolations") == []
