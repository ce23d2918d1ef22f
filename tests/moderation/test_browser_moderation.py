"""The report dialog and the moderator dashboard in a real browser: a visitor reports a model from its page
through the dialog (no page load), sees it under My reports; a moderator finds the case on the dashboard, claims
it and dismisses it; the reporter then sees the outcome. Uses the live server and Chromium of
tests/web/test_browser.py."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select

from modelyard.accounts.models import Role
from modelyard.core.runtime import Runtime
from modelyard.moderation.models import Report, ReportStatus
from tests.images.test_browser_posts import signed_for_the_test_client
from tests.moderation.world import case, picture, webp
from tests.support.catalog import create_model
from tests.support.factories import create_user
from tests.web.test_account_browser import click_and_settle, log_in_through_the_form
from tests.web.test_browser import PageProblems, screenshot
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context

pytestmark = pytest.mark.browser


def test_report_through_the_dialog_then_a_moderator_decides(context: BrowserContext, runtime: Runtime) -> None:
    owner, reporter = create_user(runtime, username="loraowner"), create_user(runtime, username="watchful")
    moderator = create_user(runtime, role=Role.moderator, username="modkate")
    made = create_model(runtime, owner, name="Suspicious LoRA", published=True)
    for post_id in made.post_ids:  # the fixture's showcase pictures get their bytes
        runtime.storage.save(f"images/{post_id}.webp", webp(), content_type="image/webp")
    picture(runtime, owner, level=8)  # an adult picture in the queue too, shown blurred

    page = context.new_page()
    problems = PageProblems(page)
    log_in_through_the_form(page, reporter, f"/models/{made.id}")
    page.wait_for_url(f"**/models/{made.id}", wait_until="networkidle")
    page.get_by_role("link", name="Report this model").click()
    dialog = page.locator("dialog[data-report-dialog]")
    expect(dialog).to_be_visible()
    dialog.get_by_label("It uses someone else's work without permission").check()
    dialog.get_by_label("Details (optional)").fill("This is my LoRA, re-uploaded")
    dialog.get_by_role("button", name="Send the report").click()
    expect(dialog.get_by_role("status")).to_contain_text("your report is filed")
    assert page.url.endswith(f"/models/{made.id}")  # no page load
    screenshot(page, "moderation-report-dialog.png")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)
    with runtime.db.session() as session:
        case_id = session.scalar(select(Report.id).where(Report.entity_type == "model", Report.entity_id == made.id))
    assert case_id is not None

    page.goto("/my/reports", wait_until="networkidle")
    expect(page.locator("[data-report-status]")).to_have_text("Waiting for a moderator")

    mod_page = context.browser.new_context(base_url=page.url.split("/my/")[0]).new_page()  # type: ignore[union-attr]
    mod_problems = PageProblems(mod_page)
    log_in_through_the_form(mod_page, moderator, "/moderation")
    mod_page.wait_for_url("**/moderation", wait_until="networkidle")
    row = mod_page.locator(f'tr:has(a[href="/moderation/cases/{case_id}"])')
    expect(row).to_contain_text("Suspicious LoRA")
    screenshot(mod_page, "moderation-dashboard.png")
    click_and_settle(mod_page, row.get_by_role("button", name="Claim"))
    expect(mod_page.locator("[data-claimed-by]")).to_have_text("you")
    mod_page.get_by_label("Decision").select_option("dismiss")
    mod_page.get_by_label("Reason (told to the owner; required to act)").fill("It is the owner's own work")
    click_and_settle(mod_page, mod_page.get_by_role("button", name="Decide"))
    expect(mod_page.locator("[data-case-status]")).to_have_text("Unactioned")
    expect(mod_page.locator("[data-log]")).to_contain_text("dismiss")
    assert case(runtime, case_id).status == ReportStatus.Unactioned

    page.goto("/my/reports", wait_until="networkidle")
    expect(page.locator("[data-report-status]")).to_have_text("No action needed")
    for seen in (problems, mod_problems):
        assert [problem for problem in seen.items if not signed_for_the_test_client(problem)] == []
