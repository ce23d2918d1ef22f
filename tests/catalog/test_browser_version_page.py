"""The model page in a real browser: an owner unpublishes one version and publishes it again from its page (the
buttons shown only when the lifecycle allows them), and on a phone the download button is near the top and long
file names wrap without widening the page. Uses the live server, Chromium and helpers of tests/web/test_browser.py;
screenshots land in tests/web/artifacts/."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext

from modelyard.accounts.models import User
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.files import service as files
from modelyard.catalog.files.safetensors import tiny_lora
from modelyard.catalog.models import ModelVersion
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import create_user
from tests.web.test_account_browser import click_and_settle, log_in_through_the_form
from tests.web.test_browser import PageProblems, screenshot
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 667}
LONG_NAME = "ink_wash_painting_style_for_sdxl-lora-rank32-epoch000018-final_final_really_final.safetensors"


@pytest.fixture
def phone(browser: Browser, base_url: str) -> Iterator[BrowserContext]:
    context = browser.new_context(
        base_url=base_url, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    yield context
    context.close()


def version_status(runtime: Runtime, version_id: int) -> ModelStatus:
    with runtime.db.session() as session:
        version = session.get(ModelVersion, version_id)
        assert version is not None
        return version.status


def test_an_owner_unpublishes_and_republishes_one_version(context: BrowserContext, runtime: Runtime) -> None:
    owner = create_user(runtime, username="versioner")
    made = create_model(runtime, owner, name="Two Versions", versions=2, published=True, with_post=False)
    first, second = made.version_ids
    page = context.new_page()
    problems = PageProblems(page)
    log_in_through_the_form(page, owner, f"/models/{made.id}?modelVersionId={first}")
    page.wait_for_url(f"**/models/{made.id}?modelVersionId={first}", wait_until="networkidle")

    assert page.get_by_text("Publish this version again").count() == 0  # it is published
    page.get_by_text("Unpublish this version").click()
    question = page.locator(".version-actions .confirm__panel")
    assert "publish it again later" in question.inner_text() and "goes down with it" not in question.inner_text()
    screenshot(page, "catalog-version-unpublish.png")
    click_and_settle(page, page.get_by_role("button", name="Yes, unpublish it"))
    assert "The version is unpublished" in page.locator("[role=status]").inner_text()
    assert version_status(runtime, first) == ModelStatus.Unpublished
    assert version_status(runtime, second) == ModelStatus.Published
    assert page.get_by_text("Unpublish this version").count() == 0

    click_and_settle(page, page.get_by_role("button", name="Publish this version again"))
    assert "The version is published again" in page.locator("[role=status]").inner_text()
    assert version_status(runtime, first) == ModelStatus.Published
    assert page.get_by_text("Publish this version again").count() == 0

    # The other version is now the last published one but for this: unpublishing both takes the model down,
    # and the page says so before it happens.
    page.get_by_text("Unpublish this version").click()
    click_and_settle(page, page.get_by_role("button", name="Yes, unpublish it"))
    page.goto(f"/models/{made.id}?modelVersionId={second}", wait_until="networkidle")
    page.get_by_text("Unpublish this version").click()
    assert "goes down with it" in page.locator(".version-actions .confirm__panel").inner_text()
    click_and_settle(page, page.get_by_role("button", name="Yes, unpublish it"))
    assert "Unpublished: only you and moderators can see it now." in page.locator("[role=status]").inner_text()
    # The model is down: a version alone cannot come back, so neither button is offered; the model's is.
    assert page.get_by_text("Publish this version again").count() == 0
    assert page.get_by_text("Unpublish this version").count() == 0
    assert problems.items == []


def test_visitors_get_no_version_buttons(context: BrowserContext, runtime: Runtime) -> None:
    made = create_model(runtime, create_user(runtime), name="Someone Else's", published=True, with_post=False)
    visitor = create_user(runtime, username="visitor")
    page = context.new_page()
    log_in_through_the_form(page, visitor, f"/models/{made.id}")
    page.wait_for_url(f"**/models/{made.id}", wait_until="networkidle")
    assert page.locator(".version-actions").count() == 0
    assert page.get_by_role("link", name="Download v1").is_visible()


def test_on_a_phone_the_download_button_is_above_the_fold(phone: BrowserContext, runtime: Runtime) -> None:
    owner = create_user(runtime, username="phoneuser")
    made = create_model(runtime, owner, name="Pocket Model", with_files=False, with_post=False)
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        version = session.get(ModelVersion, made.version_ids[0])
        assert user is not None and version is not None
        files.add_file(session, user, version, filename=LONG_NAME, stream=io.BytesIO(tiny_lora(77)))
        version.status = ModelStatus.Published
        version.model.status = ModelStatus.Published
    page = phone.new_page()
    problems = PageProblems(page)
    page.goto(f"/models/{made.id}", wait_until="networkidle")
    screenshot(page, "catalog-model-phone.png")

    download = page.get_by_role("link", name="Download v1")
    box = download.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], f"below the fold: {box}"
    assert download.get_attribute("href", timeout=1000) is not None

    # Nothing is wider than the phone: long names and hashes wrap instead of scrolling the page sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    name = page.locator(".file__name").first
    name_box = name.bounding_box()
    assert name_box is not None and name_box["x"] + name_box["width"] <= PHONE["width"]
    assert name.inner_text().replace("\n", "") == LONG_NAME  # wrapped, not cut
    lines = page.evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el); return r.getClientRects().length; }",
        name.element_handle(),
    )
    assert lines > 1
    # It breaks after a separator where it can, not in the middle of a word.
    first_line_end = page.evaluate(
        """el => {
            const text = el.textContent, r = document.createRange(), top = el.getClientRects()[0].top;
            const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            let offset = 0, node, last = '';
            while ((node = walker.nextNode())) {
                for (let i = 0; i < node.length; i++) {
                    r.setStart(node, i); r.setEnd(node, i + 1);
                    const rect = r.getClientRects()[0];
                    if (rect && rect.top > top + 2) return last;
                    last = node.data[i];
                }
            }
            return last;
        }""",
        name.element_handle(),
    )
    assert first_line_end in "._-", f"the name breaks after {first_line_end!r}"
    assert problems.items == []
