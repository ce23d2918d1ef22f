"""The listing pages in a real browser: search, filter and sort the models page with its controls and see every
choice kept in the address (so a reload or a shared link shows the same), walk past the last page, then follow a
card's creator to their profile and a tag to its page. Screenshots land in tests/web/artifacts/."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page
from sqlalchemy import update

from modelyard.accounts.models import User
from modelyard.catalog.enums import ModelType
from modelyard.catalog.models import Model
from modelyard.core.runtime import Runtime
from tests.search.test_listing_search import index_all
from tests.support.catalog import create_model
from tests.support.factories import create_user
from tests.web.test_account_browser import click_and_settle
from tests.web.test_browser import PageProblems, screenshot
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context

pytestmark = pytest.mark.browser


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def card_names(page: Page) -> list[str]:
    return page.locator(".model-card__name").all_inner_texts()


def seed(runtime: Runtime) -> None:
    owner = create_user(runtime, username="inkmaker")
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        assert user is not None
        user.display_name, user.bio = "Ink Maker", "Ink wash styles, brushes and papers."
    made = create_model(runtime, owner, name="Ink wash LoRA", published=True, with_post=False, tags=["ink"])
    create_model(runtime, owner, name="Ink photo", type=ModelType.Checkpoint, published=True, with_post=False)
    create_model(runtime, owner, name="Watercolor", published=True, with_post=False, tags=["ink"])
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == made.id).values(download_count=50))
    index_all(runtime)  # a search goes through the search indexes


def test_search_filter_and_sort_stay_in_the_address(context: BrowserContext, runtime: Runtime) -> None:
    seed(runtime)
    page = context.new_page()
    problems = PageProblems(page)
    page.goto("/models", wait_until="networkidle")
    assert card_names(page) == ["Watercolor", "Ink photo", "Ink wash LoRA"]
    assert page.get_by_role("navigation", name="Model type").get_by_role("link").all_inner_texts() == [
        "All types", "Checkpoint", "LoRA"
    ]  # fmt: skip

    page.get_by_role("searchbox", name="Search models by name").fill("ink")
    page.get_by_label("Sort").select_option(label="Most downloaded")
    click_and_settle(page, page.get_by_role("button", name="Apply"))
    assert query_of(page) == {"q": ["ink"], "sort": ["most-downloaded"]}
    # "ink" finds their tags and, as the start of a word, their creator "inkmaker": all three.
    assert card_names(page) == ["Ink wash LoRA", "Watercolor", "Ink photo"]

    click_and_settle(page, page.get_by_role("navigation", name="Model type").get_by_role("link", name="LoRA"))
    assert query_of(page) == {"q": ["ink"], "type": ["LORA"], "sort": ["most-downloaded"]}
    assert card_names(page) == ["Ink wash LoRA", "Watercolor"]
    page.reload(wait_until="networkidle")  # the address alone says what is shown
    assert card_names(page) == ["Ink wash LoRA", "Watercolor"]
    assert page.get_by_role("searchbox", name="Search models by name").input_value() == "ink"
    assert page.get_by_label("Sort").input_value() == "most-downloaded"

    page.get_by_label("Base model").select_option("SD 1.5")
    page.get_by_label("Tag").fill("ink")
    click_and_settle(page, page.get_by_role("button", name="Apply"))
    assert query_of(page)["base"] == ["SD 1.5"] and query_of(page)["type"] == ["LORA"]
    assert card_names(page) == ["Ink wash LoRA", "Watercolor"]
    screenshot(page, "catalog-browse-filtered.png")

    click_and_settle(page, page.get_by_role("link", name="Clear filters").first)
    assert page.url.endswith("/models") and len(card_names(page)) == 3
    assert problems.items == []


def test_a_page_past_the_end_says_so(context: BrowserContext, runtime: Runtime) -> None:
    seed(runtime)
    page = context.new_page()
    page.goto("/models?page=5&q=ink", wait_until="networkidle")
    assert page.get_by_role("heading", name="Page 5 is past the end of this list").is_visible()
    assert card_names(page) == []
    click_and_settle(page, page.get_by_role("link", name="Back to the first page"))
    assert query_of(page) == {"q": ["ink"]}  # best match first
    assert sorted(card_names(page)) == ["Ink photo", "Ink wash LoRA", "Watercolor"]


def test_from_a_card_to_the_creator_and_from_the_model_to_its_tag(context: BrowserContext, runtime: Runtime) -> None:
    seed(runtime)
    page = context.new_page()
    problems = PageProblems(page)
    page.goto("/models", wait_until="networkidle")
    click_and_settle(page, page.locator(".model-card").first.get_by_role("link", name="inkmaker"))
    assert page.url.endswith("/user/inkmaker")
    assert page.get_by_role("heading", level=1).inner_text() == "Ink Maker"
    assert "Ink wash styles, brushes and papers." in page.locator(".profile-bio").inner_text()
    assert page.get_by_role("list", name="Totals").inner_text().split() == [
        "3",
        "published",
        "models",
        "50",
        "downloads",
    ]
    assert len(card_names(page)) == 3
    screenshot(page, "catalog-profile.png")

    click_and_settle(page, page.get_by_role("link", name="Ink wash LoRA"))
    click_and_settle(page, page.get_by_role("list", name="Tags").get_by_role("link", name="ink"))
    assert page.url.endswith("/tag/ink")
    assert page.get_by_role("heading", level=1).inner_text() == "ink"
    assert sorted(card_names(page)) == ["Ink wash LoRA", "Watercolor"]
    click_and_settle(page, page.get_by_role("navigation", name="Model type").get_by_role("link", name="LoRA"))
    assert "/tag/ink?type=LORA" in page.url
    screenshot(page, "catalog-tag.png")
    assert problems.items == []


def test_a_home_search_shows_its_results_at_the_top(context: BrowserContext, runtime: Runtime) -> None:
    seed(runtime)
    page = context.new_page()
    page.goto("/", wait_until="networkidle")
    page.get_by_role("searchbox").fill("watercolor")
    click_and_settle(page, page.get_by_role("button", name="Search"))
    results = page.locator("#models .model-card").first
    assert results.is_visible()
    box = results.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 800, "the first result shows without scrolling"
