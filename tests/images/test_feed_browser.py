"""The image feed in a real browser: the header's level toggle visibly changes the feed, blurred pictures show on a
click, the next page arrives by scrolling, and the image page's copy buttons copy. Uses the live server and
Chromium of tests/web/test_browser.py."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from playwright.sync_api import BrowserContext, expect

from modelyard.core.runtime import Runtime
from modelyard.images.models import Image
from tests.images.test_feed import add_image
from tests.support.factories import UserFixture, create_user
from tests.web.test_account_browser import click_and_settle, log_in_through_the_form
from tests.web.test_browser import PageProblems, screenshot
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context

pytestmark = pytest.mark.browser


def stored_image(runtime: Runtime, owner: UserFixture, color: str, **options: object) -> int:
    """An image whose picture is really stored, so the browser loads it without an error."""
    image_id = add_image(runtime, owner, **options)  # type: ignore[arg-type]
    out = io.BytesIO()
    PILImage.new("RGB", (64, 96), color).save(out, format="WEBP")
    with runtime.db.transaction() as session:
        image = session.get(Image, image_id)
        assert image is not None
        runtime.storage.save(image.storage_key, out.getvalue(), content_type="image/webp")
    return image_id


def card_ids(page) -> list[int]:
    links = page.locator("[data-feed] .feed-card__link").all()
    return [int((link.get_attribute("href") or "").rsplit("/", 1)[1]) for link in links]


def test_the_level_toggle_changes_the_feed(context: BrowserContext, runtime: Runtime) -> None:
    owner, viewer = create_user(runtime, username="inkmaker"), create_user(runtime, username="watcher")
    pg = stored_image(runtime, owner, "green", level=1)
    r = stored_image(runtime, owner, "red", level=4, meta={"prompt": "red moon"})
    page = context.new_page()
    problems = PageProblems(page)
    page.goto("/images", wait_until="networkidle")
    assert card_ids(page) == [pg]  # a visitor sees PG

    log_in_through_the_form(page, viewer, "/images")
    page.wait_for_url("**/images", wait_until="networkidle")
    assert card_ids(page) == [pg]
    page.locator("[data-level-menu] summary").click()
    menu = page.locator("[data-level-form]")
    menu.locator("input[name=levels][value='4']").check()
    menu.locator("input[name=adult]").check()
    click_and_settle(page, menu.get_by_role("button", name="Apply"))
    assert card_ids(page) == [r, pg]
    blurred = page.locator(".feed-card.is-blurred")
    expect(blurred).to_have_count(1)
    screenshot(page, "image-feed-toggle.png")
    blurred.get_by_role("button", name="Show R image").click()
    expect(page.locator(".feed-card.is-blurred")).to_have_count(0)

    # And back: R off again, without the adult question, and the feed follows.
    page.locator("[data-level-menu] summary").click()
    page.locator("[data-level-form] input[name=levels][value='4']").uncheck()
    click_and_settle(page, page.locator("[data-level-form]").get_by_role("button", name="Apply"))
    assert card_ids(page) == [pg]
    assert problems.items == []


def test_scrolling_loads_the_next_page_and_copy_buttons_copy(context: BrowserContext, runtime: Runtime) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    owner = create_user(runtime)
    made = [stored_image(runtime, owner, "blue", meta={"prompt": f"tile {n}", "seed": n}) for n in range(45)]
    page = context.new_page()
    problems = PageProblems(page)
    page.goto("/images", wait_until="networkidle")
    assert len(card_ids(page)) == 40
    page.locator("[data-feed-next]").scroll_into_view_if_needed()
    expect(page.locator("[data-feed] .feed-card__link")).to_have_count(45)
    assert card_ids(page) == made[::-1]
    expect(page.locator("[data-feed-next]")).to_have_count(0)

    click_and_settle(page, page.locator(f"a[href='/images/{made[0]}']").first)
    page.get_by_role("button", name="Copy the prompt").click()
    assert page.evaluate("navigator.clipboard.readText()") == "tile 0"
    assert problems.items == []
