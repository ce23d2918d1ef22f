"""The web shell in a real browser: a uvicorn server on a free port, driven through Playwright and the system
Chromium (install it with `scripts/ensure-chromium.sh`). Screenshots land in tests/web/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request, Response, sync_playwright

from tests.support.live_server import live_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    pytest.skip(
        f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing; run scripts/ensure-chromium.sh to install it",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser, base_url: str) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800}, color_scheme="dark")
    yield context
    context.close()


class PageProblems:
    """Console errors, uncaught exceptions, failed requests and error responses seen by one page."""

    def __init__(self, page: Page) -> None:
        self.items: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.items.append(f"page error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.items.append(f"console: {message.text}")

    def _failed(self, request: Request) -> None:
        # ERR_ABORTED is the browser cancelling a request itself, as when a click navigates away while the
        # favicon is still loading; a server that fails shows up as an error response or another net:: error.
        if request.failure != "net::ERR_ABORTED":
            self.items.append(f"failed: {request.url} {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.items.append(f"{response.status}: {response.url}")


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_home_loads_cleanly(context: BrowserContext) -> None:
    page = context.new_page()
    problems = PageProblems(page)
    page.goto("/", wait_until="networkidle")
    assert page.locator("h1").inner_text().startswith("The home for AI image models")
    assert page.locator("[data-theme-toggle]").is_visible()
    assert page.evaluate("typeof window.htmx") == "object"
    screenshot(page, "home.png")
    assert problems.items == []


def test_search_shows_the_empty_catalog(context: BrowserContext) -> None:
    page = context.new_page()
    page.goto("/")
    page.get_by_role("searchbox").fill("watercolor")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/?q=watercolor")
    assert "No models match “watercolor”" in page.locator("#models").inner_text()


def test_nav_link_opens_the_status_page(context: BrowserContext) -> None:
    page = context.new_page()
    problems = PageProblems(page)
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Status").click()
    page.wait_for_url("**/status")
    assert page.locator("h1").inner_text() == "Server status"
    assert page.locator(".status-summary").inner_text().strip() == "All systems operational"
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.querySelectorAll('style').length") == 0, "htmx injected inline styles"
    screenshot(page, "status.png")
    assert problems.items == []


def test_check_again_swaps_the_checks_fragment(context: BrowserContext) -> None:
    page = context.new_page()
    page.goto("/status", wait_until="networkidle")
    page.evaluate("document.getElementById('status-checks').classList.add('stale')")
    with page.expect_response(lambda r: r.url.endswith("/status/checks") and r.status == 200) as response:
        page.get_by_role("link", name="Check again").click()
    assert response.value.request.headers.get("hx-request") == "true"
    # A locator wait, not wait_for_function: polling a string predicate evaluates it in the page, which the
    # site's CSP (no 'unsafe-eval') refuses whenever the swap has not happened by the first check.
    page.locator("#status-checks:not(.stale)").wait_for()
    assert page.url.endswith("/status"), "htmx swapped the panel instead of navigating"


def test_checks_panel_polls_by_itself(context: BrowserContext) -> None:
    page = context.new_page()
    page.clock.install()
    page.goto("/status", wait_until="networkidle")
    page.evaluate("document.getElementById('status-checks').classList.add('stale')")
    with page.expect_response(lambda r: r.url.endswith("/status/checks")):
        page.clock.run_for(11_000)
    page.locator("#status-checks:not(.stale)").wait_for()
    assert page.locator("#status-checks[hx-trigger='every 10s']").count() == 1, "polling survives the swap"


def test_theme_toggle_switches_and_persists(context: BrowserContext) -> None:
    page = context.new_page()
    page.goto("/")
    theme = "document.documentElement.dataset.theme"
    background = "getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(theme) == "dark"
    dark_background = page.evaluate(background)
    page.get_by_role("button", name="Switch to light theme").click()
    assert page.evaluate(theme) == "light"
    assert page.evaluate(background) != dark_background
    screenshot(page, "home-light.png")
    page.reload()
    assert page.evaluate(theme) == "light"
    assert page.get_by_role("button", name="Switch to dark theme").is_visible()


def test_without_a_saved_choice_the_os_preference_wins(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, color_scheme="light")
    try:
        page = context.new_page()
        page.goto("/")
        assert page.evaluate("document.documentElement.dataset.theme") == "light"
    finally:
        context.close()


def test_not_found_page_renders(context: BrowserContext) -> None:
    page = context.new_page()
    response = page.goto("/models/does-not-exist")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert page.get_by_role("link", name="Go home").is_visible()
    screenshot(page, "not-found.png")


def phone_context(browser: Browser, base_url: str) -> BrowserContext:
    """A phone: 390 x 844 at twice the density, touch, in the dark scheme. The caller closes it."""
    return browser.new_context(
        base_url=base_url,
        viewport={"width": 390, "height": 844},
        color_scheme="dark",
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


def test_phone_layout_keeps_nav_and_search(browser: Browser, base_url: str) -> None:
    context = phone_context(browser, base_url)
    try:
        page = context.new_page()
        page.goto("/", wait_until="networkidle")
        assert page.get_by_role("navigation", name="Main").is_visible()
        assert page.get_by_role("searchbox").is_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, "no horizontal scrolling on a phone"
        screenshot(page, "home-phone.png")
    finally:
        context.close()


def test_pages_work_without_javascript(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        assert page.get_by_role("searchbox").is_visible()
        assert page.locator("[data-theme-toggle]").is_hidden(), "the toggle needs JS, so it stays hidden"
        page.goto("/status")
        page.get_by_role("link", name="Check again").click()
        page.wait_for_url("**/status")
        assert page.locator(".status-summary").inner_text().strip() == "All systems operational"
    finally:
        context.close()
