"""Search in a real browser: suggestions under the header's box and Enter to the search page; results that follow
the words as they are typed, without a reload, with the address kept in step; a facet ticked narrows them; the
end of the list loads the next page. Screenshots land in /tmp/shots/ (desktop and phone)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from modelyard.catalog.enums import ModelType
from modelyard.core.runtime import Runtime
from tests.search.test_search_pages import index_everything, seed
from tests.support.catalog import create_model
from tests.support.factories import create_user
from tests.web.test_browser import PageProblems, phone_context
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    # caret="initial": hiding the caret writes a style attribute on every input, which htmx would then carry
    # into swapped content (and the site's CSP refuse).
    page.screenshot(path=str(SHOTS / name), full_page=True, caret="initial")


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def card_names(page: Page) -> list[str]:
    return page.locator("#search-hits .model-card__name").all_inner_texts()


def test_header_suggestions_then_enter_opens_the_search_page(context: BrowserContext, runtime: Runtime) -> None:
    seed(runtime)
    page = context.new_page()
    problems = PageProblems(page)
    page.goto("/models", wait_until="networkidle")
    box = page.get_by_role("combobox", name="Search the site")
    box.press_sequentially("ink", delay=30)
    suggestions = page.get_by_role("listbox", name="Suggestions")
    expect(suggestions).to_be_visible()
    options = suggestions.get_by_role("option")
    expect(options.last).to_have_text("Search for “ink”")
    assert "inkmaker" in suggestions.inner_text()
    shot(page, "search-suggestions.png")
    with page.expect_navigation(wait_until="networkidle"):
        box.press("Enter")
    assert urlsplit(page.url).path == "/search" and query_of(page) == {"q": ["ink"]}
    assert {"Ink wash LoRA", "Ink photo"} <= set(card_names(page))

    page.goto("/models", wait_until="networkidle")
    box.press_sequentially("ink wa", delay=30)
    expect(suggestions.get_by_role("option").first).to_contain_text("Ink wash LoRA")
    box.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", "header-q-suggestions-0")
    with page.expect_navigation(wait_until="networkidle"):
        box.press("Enter")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Ink wash LoRA")
    assert problems.items == [], "\n".join(problems.items)


def test_results_follow_the_words_and_the_facets_without_a_reload(context: BrowserContext, runtime: Runtime) -> None:
    seed(runtime)
    page = context.new_page()
    problems = PageProblems(page)
    page.goto("/search", wait_until="networkidle")
    page.evaluate("window.stillHere = true")
    box = page.get_by_role("combobox", name="Search models, images, creators and tags")
    box.press_sequentially("ink", delay=30)
    page.wait_for_url("**/search?q=ink")
    expect(page.locator("#search-hits .model-card__name", has_text="Ink photo")).to_be_visible()
    assert "Ink noir" not in card_names(page)
    assert page.evaluate("window.stillHere") is True, "swapped in, not reloaded"

    box.press("Escape")  # the suggestions cover the page until closed, as any combobox's do
    expect(page.get_by_role("listbox", name="Suggestions")).to_be_hidden()
    page.locator(".facet[data-facet=type]").get_by_label("Checkpoint").check()
    page.wait_for_url("**/search?q=ink&type=Checkpoint")
    expect(page.locator("#search-hits .model-card")).to_have_count(1)
    assert card_names(page) == ["Ink photo"]
    expect(page.get_by_role("checkbox", name="Checkpoint")).to_be_checked()
    shot(page, "search-desktop.png")

    page.get_by_role("link", name="Remove filter Model type: Checkpoint").click()
    page.wait_for_url("**/search?q=ink")
    expect(page.locator("#search-hits .model-card")).not_to_have_count(1)
    page.get_by_role("combobox", name="Sort").select_option("trending")
    expect(page.get_by_role("combobox", name="Trending over")).to_be_visible()
    page.wait_for_url("**/search?q=ink&sort=trending")
    page.get_by_role("link", name="Creators").click()
    page.wait_for_url("**/search?q=ink&index=users")
    expect(page.locator(".creator-card")).to_have_count(1)
    shot(page, "search-creators.png")
    page.go_back()
    page.wait_for_url("**/search?q=ink&sort=trending")
    expect(box).to_have_value("ink")
    assert page.evaluate("window.stillHere") is True
    assert problems.items == [], "\n".join(problems.items)


def test_scrolling_to_the_end_loads_the_next_page(context: BrowserContext, runtime: Runtime) -> None:
    owner = create_user(runtime, username="prolific")
    for n in range(30):
        kind = ModelType.Checkpoint if n % 3 == 0 else ModelType.LORA
        create_model(runtime, owner, name=f"Sketch {n:02}", type=kind, published=True, with_post=False, tags=["sketch"])
    index_everything(runtime)
    page = context.new_page()
    problems = PageProblems(page)
    page.goto("/search?q=sketch&sort=newest", wait_until="networkidle")
    cards = page.locator("#search-hits .model-card")
    expect(cards).to_have_count(24)
    page.locator(".search-more").scroll_into_view_if_needed()
    expect(cards).to_have_count(30)
    assert card_names(page)[-1] == "Sketch 00"
    expect(page.locator(".search-more")).to_have_count(0)
    assert urlsplit(page.url).query == "q=sketch&sort=newest", "scrolling pushes no address"
    assert problems.items == [], "\n".join(problems.items)


def test_the_page_on_a_phone(browser: Browser, base_url: str, runtime: Runtime) -> None:
    seed(runtime)
    context = phone_context(browser, base_url)
    try:
        page = context.new_page()
        page.goto("/search?q=ink", wait_until="networkidle")
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        filters = page.locator("[data-search-filters]")
        assert filters.evaluate("el => el.open") is False, "folded away on a phone"
        shot(page, "search-mobile.png")
        page.get_by_text("Filters", exact=True).click()
        expect(page.locator(".facet[data-facet=type]")).to_be_visible()
        shot(page, "search-mobile-filters.png")
        page.goto("/models", wait_until="networkidle")
        expect(page.get_by_role("link", name="Open search")).to_be_visible()
    finally:
        context.close()


def test_search_works_without_javascript(browser: Browser, base_url: str, runtime: Runtime) -> None:
    seed(runtime)
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/models")
        page.locator("#header-q").fill("ink")
        with page.expect_navigation():
            page.locator("#header-q").press("Enter")
        assert query_of(page) == {"q": ["ink"]}
        page.get_by_label("Checkpoint").check()
        with page.expect_navigation():
            page.get_by_role("button", name="Apply filters").click()
        assert query_of(page)["type"] == ["Checkpoint"]
        assert card_names(page) == ["Ink photo"]
    finally:
        context.close()
