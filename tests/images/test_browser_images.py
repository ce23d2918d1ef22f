"""Pictures in a real browser: the wizard's image step (add several, drag to reorder, pick the cover, remove), with
and without JavaScript, and the viewer on the model page (details, arrow keys, Esc; without JavaScript a plain
link to the image). Uses the live server and Chromium of tests/web/test_browser.py."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image as PILImage
from playwright.sync_api import Browser, BrowserContext, Page, expect

from modelyard.catalog import showcase
from modelyard.catalog.models import ModelVersion
from modelyard.catalog.showcase import NewPicture
from modelyard.core.runtime import Runtime
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import UserFixture, create_user
from tests.support.ingestion import run_ingestion
from tests.web.test_account_browser import click_and_settle, log_in_through_the_form
from tests.web.test_browser import PageProblems, screenshot
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context

pytestmark = pytest.mark.browser


def png(color: str, size: tuple[int, int] = (96, 64)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def files(*colors: str) -> list[dict[str, object]]:
    return [{"name": f"{color}.png", "mimeType": "image/png", "buffer": png(color)} for color in colors]


def showcase_names(page: Page) -> list[str]:
    names = page.locator("[data-showcase-list] .showcase-item__name").all_inner_texts()
    return [name.split()[0] for name in names]


def open_step(page: Page, owner: UserFixture, made: ModelFixture) -> None:
    log_in_through_the_form(page, owner, f"/model-versions/{made.version_ids[0]}/images")
    page.wait_for_url(f"**/model-versions/{made.version_ids[0]}/images", wait_until="networkidle")


def test_the_image_step_adds_orders_picks_the_cover_and_removes(context: BrowserContext, runtime: Runtime) -> None:
    owner = create_user(runtime, username="painter")
    made = create_model(runtime, owner, name="Ink wash", with_post=False, published=True)
    page = context.new_page()
    problems = PageProblems(page)
    open_step(page, owner, made)
    assert page.locator("[aria-current=step]").inner_text().strip().endswith("Images")

    page.get_by_label("Add images").set_input_files(files=files("red", "green", "blue"))
    expect(page.locator("[data-showcase-list] [data-image-id]")).to_have_count(3)
    expect(page.locator("[data-showcase-progress] progress")).to_have_count(3)
    assert page.locator("[data-showcase-progress]").inner_text().count("Added.") == 3
    assert showcase_names(page) == ["red.png", "green.png", "blue.png"]
    screenshot(page, "images-step.png")

    items = page.locator("[data-showcase-list] [data-image-id]")
    items.nth(2).drag_to(items.nth(0), target_position={"x": 10, "y": 5})
    expect(page.locator("[role=status]").last).to_have_text("The order is saved.")
    assert showcase_names(page) == ["blue.png", "red.png", "green.png"]

    page.locator("[data-image-id]", has_text="green.png").get_by_role("button", name="Make cover").click()
    expect(page.locator("[data-showcase-list] [data-cover-badge]")).to_have_count(1)
    expect(page.locator("[data-showcase-list] .showcase-item").first).to_contain_text("green.png")
    assert showcase_names(page) == ["green.png", "blue.png", "red.png"]

    page.get_by_role("button", name="Remove red.png").click()
    expect(page.locator("[data-showcase-list] [data-image-id]")).to_have_count(2)
    page.reload(wait_until="networkidle")
    assert showcase_names(page) == ["green.png", "blue.png"], "the server kept what the page shows"

    click_and_settle(page, page.get_by_role("link", name="See the model page"))
    gallery = page.locator("[data-gallery] a[data-lightbox]")
    expect(gallery).to_have_count(2)  # its owner sees them while they are ingested
    run_ingestion(runtime)  # as the workers would
    page.context.clear_cookies()
    page.goto(f"/models/{made.id}", wait_until="networkidle")
    shown = [details.inner_text() for details in page.locator("[data-image-details]").all()]
    assert "green.png" in shown[0] and "blue.png" in shown[1], "visitors see the order chosen"
    # Pictures still Pending reach their owner through signed storage URLs made for the configured public address
    # (http://testserver), which is not this live server's: the browser refuses those, and only those.
    assert [item for item in problems.items if "http://testserver/files/originals/" not in item] == []


def test_the_image_step_works_without_javascript(browser: Browser, base_url: str, runtime: Runtime) -> None:
    owner = create_user(runtime, username="plainhtml")
    made = create_model(runtime, owner, with_post=False)
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    page = context.new_page()
    open_step(page, owner, made)
    page.get_by_label("Add images").set_input_files(files=files("red", "blue"))
    click_and_settle(page, page.get_by_role("button", name="Upload images"))
    assert "The images are added." in page.locator("[role=status]").inner_text()
    assert showcase_names(page) == ["red.png", "blue.png"]
    assert page.locator("[data-showcase-list]").inner_text().count("not published yet") == 2
    click_and_settle(page, page.get_by_role("button", name="Make cover"))
    assert showcase_names(page) == ["blue.png", "red.png"]
    click_and_settle(page, page.get_by_role("button", name="Move blue.png later"))
    assert showcase_names(page) == ["red.png", "blue.png"]
    click_and_settle(page, page.get_by_role("button", name="Remove blue.png"))
    assert showcase_names(page) == ["red.png"]
    page.get_by_label("Add images").set_input_files(files=[{"name": "x.png", "mimeType": "image/png", "buffer": b"no"}])
    click_and_settle(page, page.get_by_role("button", name="Upload images"))
    assert "this file is none of them" in page.locator("[role=alert]").inner_text()
    assert showcase_names(page) == ["red.png"]
    context.close()


def gallery_model(runtime: Runtime) -> ModelFixture:
    """A published model whose version shows two pictures, one with generation data and a long file name."""
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_post=False, published=True)
    long_name = "a_very_long_file_name_without_any_spaces_" * 4 + ".png"
    with runtime.db.transaction() as session:
        version = session.get(ModelVersion, made.version_ids[0])
        assert version is not None
        meta = {"prompt": "ink wash heron, misty river", "sampler": "Euler a", "seed": 1234, "steps": 28}
        pictures = [NewPicture(png("red"), meta=meta, name=long_name), NewPicture(png("blue", (64, 96)))]
        assert showcase.add_pictures(session, owner_id=owner.id, version_id=version.id, pictures=pictures) == 2
    return made


def test_pictures_open_in_the_viewer_with_their_details(context: BrowserContext, runtime: Runtime) -> None:
    made = gallery_model(runtime)
    page = context.new_page()
    problems = PageProblems(page)
    page.goto(f"/models/{made.id}", wait_until="networkidle")
    dialog = page.locator("[data-lightbox-dialog]")
    expect(dialog).to_be_hidden()
    page.locator("[data-gallery] a[data-lightbox]").first.click()
    expect(dialog).to_be_visible()
    details = dialog.locator("[data-lightbox-details]")
    expect(details).to_contain_text("96 \u00d7 64 px")
    expect(details).to_contain_text("ink wash heron, misty river")
    expect(details).to_contain_text("Euler a")
    expect(dialog.locator("[data-lightbox-count]")).to_have_text("Image 1 of 2")
    image = dialog.locator("[data-lightbox-image]")
    expect(image).to_have_attribute("src", re.compile(r"/media/images/"))
    page.wait_for_function("document.querySelector('[data-lightbox-image]').naturalWidth === 96")
    box = details.bounding_box()
    assert box is not None and box["width"] <= 340, "a long file name wraps instead of widening the panel"
    screenshot(page, "images-viewer.png")
    page.keyboard.press("ArrowRight")
    expect(dialog.locator("[data-lightbox-count]")).to_have_text("Image 2 of 2")
    expect(details).to_contain_text("64 \u00d7 96 px")
    expect(details).to_contain_text("None shared for this image.")
    page.keyboard.press("ArrowLeft")
    expect(dialog.locator("[data-lightbox-count]")).to_have_text("Image 1 of 2")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert problems.items == []


def test_without_javascript_a_picture_is_a_link_to_the_image(browser: Browser, base_url: str, runtime: Runtime) -> None:
    made = gallery_model(runtime)
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"/models/{made.id}")
    link = page.locator("[data-gallery] a[data-lightbox]").first
    href = link.get_attribute("href")
    assert href is not None and href.startswith("/media/images/")
    with page.expect_navigation():
        link.click()
    assert page.url.endswith(href)
    context.close()
