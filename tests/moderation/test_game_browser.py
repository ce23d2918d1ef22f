"""The rating game in a real browser: the image blurred until revealed (space bar), an answer by keyboard
shortcut, and the same game without JavaScript (a click on a level button). Uses the live server and Chromium of
tests/web/test_browser.py."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from modelyard.core.runtime import Runtime
from modelyard.moderation.game.models import GameRating
from tests.moderation.game_world import configure, picture, veteran
from tests.support.factories import create_user
from tests.web.test_account_browser import log_in_through_the_form
from tests.web.test_browser import PageProblems, screenshot
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context

pytestmark = pytest.mark.browser


def _levels(runtime: Runtime) -> list[int]:
    with runtime.db.session() as session:
        return [rating.level for rating in session.query(GameRating).order_by(GameRating.id)]


def _open_game(page: Page, runtime: Runtime) -> None:
    log_in_through_the_form(page, veteran(runtime), "/game")
    page.wait_for_url("**/game", wait_until="networkidle")


def test_reveal_and_answer_with_the_keyboard(context: BrowserContext, runtime: Runtime, monkeypatch) -> None:
    configure(monkeypatch, runtime)
    owner = create_user(runtime)
    picture(runtime, owner)
    picture(runtime, owner)
    page = context.new_page()
    problems = PageProblems(page)
    _open_game(page, runtime)
    image = page.locator("[data-game-image]")
    expect(image).to_be_visible()
    assert "blur" in image.evaluate("node => getComputedStyle(node).filter")
    assert image.evaluate("node => node.naturalWidth") == 40  # the picture behind the ticket loaded
    page.keyboard.press("Space")
    expect(image).to_have_css("filter", "none")
    screenshot(page, "game.png")
    with page.expect_navigation(wait_until="networkidle"):
        page.keyboard.press("3")
    expect(page.locator("[role=status]").first).to_contain_text("Your rating is in")
    assert _levels(runtime) == [4]
    with page.expect_navigation(wait_until="networkidle"):
        page.keyboard.press("6")
    assert _levels(runtime) == [4, 32]
    expect(page.locator("[data-game-empty]")).to_be_visible()
    assert problems.items == []


def test_the_game_works_without_javascript(browser: Browser, base_url: str, runtime: Runtime, monkeypatch) -> None:
    configure(monkeypatch, runtime)
    picture(runtime, create_user(runtime))
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    try:
        page = context.new_page()
        _open_game(page, runtime)
        page.locator("label[for=game-reveal]").click()  # the label toggles the checkbox: CSS does the rest
        expect(page.locator("[data-game-image]")).to_have_css("filter", "none")
        page.get_by_role("button", name="PG-13").click()
        page.wait_for_url("**/game?done=game-rated")
        assert _levels(runtime) == [2]
    finally:
        context.close()
