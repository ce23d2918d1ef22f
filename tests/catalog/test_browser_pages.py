"""The catalog's pages in a real browser: log in, walk the wizard (model → version → file → publish) and see
the published model page. Uses the live server, Chromium and helpers of tests/web/test_browser.py; screenshots
land in tests/web/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page

from modelyard.catalog.files.safetensors import tiny_lora
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import create_user
from tests.support.uploads import running_jobs
from tests.web.test_account_browser import click_and_settle, log_in_through_the_form
from tests.web.test_browser import PageProblems, screenshot
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context

pytestmark = pytest.mark.browser


def submit(page: Page, name: str) -> None:
    click_and_settle(page, page.get_by_role("button", name=name, exact=True))


@pytest.fixture
def jobs(runtime: Runtime) -> Iterator[None]:
    with running_jobs(runtime):  # uploads are verified by a job, as in `modelyard serve`
        yield


@pytest.mark.usefixtures("jobs")
def test_wizard_from_a_new_model_to_its_published_page(context: BrowserContext, runtime: Runtime) -> None:
    user = create_user(runtime, username="inkmaker")
    page = context.new_page()
    problems = PageProblems(page)
    log_in_through_the_form(page, user, "/models")
    page.wait_for_url("**/models", wait_until="networkidle")
    click_and_settle(page, page.get_by_role("link", name="Upload a model"))

    page.get_by_label("Name", exact=True).fill("Ink wash LoRA")
    page.get_by_label("Type", exact=True).select_option("LORA")
    page.get_by_label("Description").fill("Turns any subject into an **ink wash** painting.")
    page.get_by_label("Tags").fill("ink, painting")
    page.get_by_label("Sell images made with it").check()
    screenshot(page, "catalog-new-model.png")
    submit(page, "Create model")
    assert "Your model is created as a draft" in page.locator("[role=status]").inner_text()

    click_and_settle(page, page.get_by_role("link", name="Add version"))
    page.get_by_label("Version name").fill("v1.0")
    page.get_by_label("Base model").select_option("SD 1.5")
    page.get_by_label("Trigger words").fill("inkwash style")
    submit(page, "Create version")
    assert page.url.endswith("done=version-created")

    page.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "ink_wash.safetensors", "mimeType": "application/octet-stream", "buffer": tiny_lora(3)}]
    )
    submit(page, "Upload file")
    assert (
        "ink_wash.safetensors"
        in page.get_by_role("region", name="Files of v1.0").get_by_role("list").first.inner_text()
    )
    screenshot(page, "catalog-version-files.png")

    click_and_settle(page, page.get_by_role("link", name="Next: publish"))
    later = page.locator("[data-when-later]")
    assert later.is_hidden(), "the date fields show only when scheduling"
    page.get_by_label("Schedule for later").check()
    assert later.is_visible()
    page.get_by_label("Publish now").check()
    submit(page, "Publish")

    assert "Published! Everyone can see it now." in page.locator("[role=status]").inner_text()
    assert page.locator("h1").inner_text().startswith("Ink wash LoRA")
    assert "ink_wash.safetensors" in page.locator(".file-list").inner_text()
    assert page.locator(".trigger-words").inner_text() == "inkwash style"
    page.get_by_text("Hashes").click()
    assert page.locator(".hash-list").get_by_text("SHA256").is_visible()
    screenshot(page, "catalog-model-page.png")

    click_and_settle(page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Models"))
    assert "Ink wash LoRA" in page.locator(".model-grid").inner_text()
    assert problems.items == []


def test_dashboard_and_browse_screenshots(context: BrowserContext, runtime: Runtime) -> None:
    owner = create_user(runtime, username="studio")
    for name, published in (("Watercolor", True), ("Film grain", True), ("Neon city", False)):
        create_model(runtime, owner, name=name, published=published, with_post=False)
    page = context.new_page()
    log_in_through_the_form(page, owner, "/my/models")
    page.wait_for_url("**/my/models", wait_until="networkidle")
    assert page.locator(".data-table tbody tr").count() == 3
    page.get_by_text("Delete", exact=True).first.click()
    assert page.get_by_role("button", name="Yes, delete it").is_visible(), "deleting asks first"
    screenshot(page, "catalog-dashboard.png")
    page.goto("/models", wait_until="networkidle")
    assert page.locator(".model-card").count() == 2
    screenshot(page, "catalog-browse.png")
