"""The account pages in a real browser: sign up, create an API key, log out and in again, through the forms.

Uses the live server, Chromium and helpers of tests/web/test_browser.py; screenshots land in tests/web/artifacts/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Locator, Page

from modelyard.accounts.models import Role
from modelyard.core.runtime import Runtime
from tests.support.factories import PASSWORD, UserFixture, create_user
from tests.web.test_browser import PageProblems, screenshot
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context

pytestmark = pytest.mark.browser


def log_in_through_the_form(page: Page, user: UserFixture, next_path: str = "") -> None:
    page.goto(f"/login{'?next=' + next_path if next_path else ''}", wait_until="networkidle")
    page.get_by_label("Username or e-mail").fill(user.username)
    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_role("button", name="Log in").click()


def click_and_settle(page: Page, target: Locator) -> None:
    """Click something that loads a page, and wait until the page has loaded everything (a navigation started
    before then aborts the requests still open, which PageProblems would report)."""
    with page.expect_navigation(wait_until="networkidle"):
        target.click()


def account_menu(page: Page, username: str) -> None:
    page.get_by_label(f"Account menu for {username}").click()


def test_sign_up_create_a_key_log_out_and_in(context: BrowserContext) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    problems = PageProblems(page)

    page.goto("/", wait_until="networkidle")
    click_and_settle(page, page.get_by_role("link", name="Sign up"))
    page.get_by_label("Username").fill("brushwork")
    page.get_by_label("E-mail address").fill("brushwork@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/account?done=welcome", wait_until="networkidle")
    assert page.get_by_label("Account menu for brushwork").is_visible(), "the header shows who is logged in"
    assert "Confirm your e-mail address" in page.locator(".banner").inner_text()

    click_and_settle(page, page.get_by_role("navigation", name="Account settings").get_by_role("link", name="API keys"))
    page.get_by_label("Name").fill("ComfyUI at home")
    click_and_settle(page, page.get_by_role("button", name="Create key"))
    key = page.get_by_label("API key").input_value()
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    click_and_settle(page, page.get_by_role("link", name="Done — back to my keys"))
    assert "ComfyUI at home" in page.locator(".item-list").inner_text()
    assert key not in page.content(), "the key is shown once only"

    account_menu(page, "brushwork")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login?done=logged-out", wait_until="networkidle")
    assert page.get_by_role("link", name="Log in").is_visible()

    log_in_through_the_form(page, UserFixture(0, "brushwork", "brushwork@example.com", PASSWORD), "/account/sessions")
    page.wait_for_url("**/account/sessions", wait_until="networkidle")
    assert page.get_by_label("Account menu for brushwork").is_visible()
    assert problems.items == []


def test_account_menu_closes_on_escape_and_outside_click(context: BrowserContext, runtime: Runtime) -> None:
    user = create_user(runtime)
    page = context.new_page()
    log_in_through_the_form(page, user)
    page.wait_for_url("**/", wait_until="networkidle")
    menu = page.locator("[data-account-menu]")
    account_menu(page, user.username)
    assert menu.get_attribute("open") is not None
    page.keyboard.press("Escape")
    assert menu.get_attribute("open") is None
    account_menu(page, user.username)
    page.locator("h1").click()
    assert menu.get_attribute("open") is None


def test_login_page_screenshot(context: BrowserContext, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    providers = {"google": {"client_id": "x", "client_secret": "y"}, "github": {"client_id": "x", "client_secret": "y"}}
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"oauth_providers": providers}))
    page = context.new_page()
    problems = PageProblems(page)
    page.goto("/login?next=/account", wait_until="networkidle")
    assert page.get_by_role("link", name="Continue with Google").get_attribute("href") == (
        "/auth/oauth/google/start?next=%2Faccount"
    )
    screenshot(page, "login.png")
    page.get_by_label("Username or e-mail").fill("nobody")
    page.get_by_label("Password", exact=True).fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    assert "Wrong username or password" in page.get_by_role("alert").inner_text()
    screenshot(page, "login-failed.png")
    assert problems.items and all("401" in item for item in problems.items), "only the refused log-in"


def test_api_keys_page_screenshot(context: BrowserContext, runtime: Runtime) -> None:
    user = create_user(runtime)
    page = context.new_page()
    log_in_through_the_form(page, user, "/account/api-keys")
    page.wait_for_url("**/account/api-keys", wait_until="networkidle")
    page.get_by_label("Name").fill("Download script")
    page.get_by_label("Only these permissions").check()
    page.get_by_label("Read", exact=True).first.check()
    page.get_by_role("button", name="Create key").click()
    screenshot(page, "api-key-created.png")
    page.goto("/account/api-keys", wait_until="networkidle")
    page.get_by_label("Name").fill("ComfyUI at home")
    page.get_by_label("Buzz spending limit").fill("500")
    page.get_by_role("button", name="Create key").click()
    page.goto("/account/api-keys", wait_until="networkidle")
    assert page.locator(".item-list .item").count() == 2
    screenshot(page, "api-keys.png")


def test_admin_users_screenshot(context: BrowserContext, runtime: Runtime) -> None:
    admin = create_user(runtime, role=Role.admin, username="root_admin")
    create_user(runtime, role=Role.moderator, username="mod_mira")
    muted = create_user(runtime, username="loud_larry")
    banned = create_user(runtime, username="spam_sam")
    create_user(runtime, username="new_nina", verified=False)
    page = context.new_page()
    problems = PageProblems(page)
    log_in_through_the_form(page, admin, "/admin/users")
    page.wait_for_url("**/admin/users", wait_until="networkidle")
    for target, action, field in ((muted, "Mute", "#f-mute-reason"), (banned, "Ban", "#f-ban-reason")):
        page.goto(f"/admin/users/{target.id}", wait_until="networkidle")
        page.locator(field).fill("Posting spam links in the comments")
        page.get_by_role("button", name=f"{action} {target.username}").click()
        page.wait_for_url(f"**/admin/users/{target.id}?done=*", wait_until="networkidle")
    screenshot(page, "admin-user.png")
    page.goto("/admin/users", wait_until="networkidle")
    assert page.locator(".data-table tbody tr").count() == 5
    screenshot(page, "admin-users.png")
    assert problems.items == []


def test_error_pages_of_a_logged_in_visitor_are_the_sites_own(context: BrowserContext, runtime: Runtime) -> None:
    """A 404 and a 403 after logging in: the site's styled page, its header showing who is logged in, its menu
    working (they render after the request's session has ended; they used to come out as bare HTML)."""
    user = create_user(runtime)
    page = context.new_page()
    log_in_through_the_form(page, user)
    page.wait_for_url("**/", wait_until="networkidle")
    for path, heading in (("/models/999999", "Page not found"), ("/admin", "Access denied")):
        page.goto(path, wait_until="networkidle")
        assert page.get_by_role("heading", level=1).inner_text() == heading
        assert page.evaluate("getComputedStyle(document.body).margin") == "0px", "the site's stylesheet applies"
        account_menu(page, user.username)
        assert page.get_by_role("button", name="Log out").is_visible()
    screenshot(page, "error-page-logged-in.png")
