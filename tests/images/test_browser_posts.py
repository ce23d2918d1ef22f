"""The post editor in a real browser: a new post, files dropped and chosen (each with its progress bar), their
ingestion states refreshed until Scanned, reordering by dragging, tags, hiding generation data, publishing; then
the post's page shows the images to a visitor in the chosen order. Uses the live server and Chromium of
tests/web/test_browser.py."""

from __future__ import annotations

import base64
import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from modelyard.core.runtime import Runtime
from modelyard.images import ingest
from modelyard.images.models import Image
from tests.images.test_editing import png
from tests.support.factories import create_user
from tests.web.test_account_browser import click_and_settle, log_in_through_the_form
from tests.web.test_browser import PageProblems, screenshot
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context

pytestmark = pytest.mark.browser

DROP = """([name, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "image/png" }));
  const zone = document.querySelector("[data-dropzone]");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
  }
}"""


def signed_for_the_test_client(problem: str) -> bool:
    """A draft's pictures have signed addresses under the site's public base URL, which the suite sets to the test
    client's (`http://testserver`), not this live server's port: the browser's CSP refuses them as another origin.
    On a real site (and with S3, whose origin the CSP names) they load."""
    return "http://testserver/files/" in problem and ("Content Security Policy" in problem or problem.endswith(" csp"))


def names(page: Page) -> list[str]:
    return [text.split()[0] for text in page.locator("[data-post-images] .showcase-item__name").all_inner_texts()]


def scan_all(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        image_ids = list(session.scalars(select(Image.id).order_by(Image.id)))
    for image_id in image_ids:
        with runtime.db.transaction() as session:
            ingest.ingest_now(session, image_id)


def test_make_a_post_in_the_editor_and_see_it_published(
    browser: Browser, base_url: str, context: BrowserContext, runtime: Runtime
) -> None:
    owner = create_user(runtime, username="heronpainter")
    page = context.new_page()
    problems = PageProblems(page)
    log_in_through_the_form(page, owner, "/posts/new")
    page.wait_for_url("**/posts/new", wait_until="networkidle")
    page.get_by_label("Title").fill("Herons in ink")
    page.get_by_label("Description").fill("Three studies, *wet on wet*.")
    click_and_settle(page, page.get_by_role("button", name="Create the post"))
    assert re.search(r"/posts/\d+/edit", page.url)
    post_id = int(re.findall(r"/posts/(\d+)/edit", page.url)[0])

    page.get_by_label("Add images").set_input_files(
        files=[{"name": f"{color}.png", "mimeType": "image/png", "buffer": png(color)} for color in ("red", "green")]
    )
    expect(page.locator("[data-post-images] [data-image-id]")).to_have_count(2)
    page.evaluate(DROP, ["blue.png", base64.b64encode(png("blue")).decode()])
    expect(page.locator("[data-post-images] [data-image-id]")).to_have_count(3)
    expect(page.locator("[data-post-progress] progress")).to_have_count(3)
    expect(page.locator("[data-post-progress]")).to_contain_text("Added.")
    assert names(page) == ["red.png", "green.png", "blue.png"]
    expect(page.locator('[data-post-images] [data-state="Pending"]')).to_have_count(3)

    scan_all(runtime)  # the ingestion jobs, run here: the editor's polling sees them done
    expect(page.locator('[data-post-images] [data-state="Scanned"]')).to_have_count(3, timeout=15_000)
    expect(page.locator("[data-post-images] [data-state-badge]").first).to_have_text("Scanned")

    items = page.locator("[data-post-images] [data-image-id]")
    items.nth(2).drag_to(items.nth(0), target_position={"x": 10, "y": 5})
    expect(page.locator("[role=status]").last).to_have_text("The order is saved.")
    assert names(page) == ["blue.png", "red.png", "green.png"]

    tags = page.get_by_label("Tags of blue.png")
    tags.fill("Heron,  Ink   Wash")
    tags.press("Enter")
    expect(page.locator("[role=status]").last).to_have_text("The tags are saved.")
    expect(tags).to_have_value("heron, ink wash")
    page.locator("[data-image-id]", has_text="blue.png").get_by_label("Hide generation data").check()
    expect(page.locator("[role=status]").last).to_have_text("Its generation data is hidden.")
    screenshot(page, "post-editor.png")

    page.reload(wait_until="networkidle")
    assert names(page) == ["blue.png", "red.png", "green.png"], "the server kept what the page showed"
    expect(page.get_by_label("Tags of blue.png")).to_have_value("heron, ink wash")
    expect(page.locator("[data-image-id]", has_text="blue.png").get_by_label("Hide generation data")).to_be_checked()
    click_and_settle(page, page.get_by_role("button", name="Publish"))
    expect(page.locator("[role=status]").first).to_contain_text("The post is published.")
    assert [problem for problem in problems.items if not signed_for_the_test_client(problem)] == []

    visitor = browser.new_context(base_url=base_url)
    public = visitor.new_page()
    public.goto(f"/posts/{post_id}", wait_until="networkidle")
    expect(public.get_by_role("heading", name="Herons in ink")).to_be_visible()
    expect(public.locator(".prose em")).to_have_text("wet on wet")
    details = public.locator("[data-image-details]").all_inner_texts()
    assert len(details) == 3
    assert ["blue.png" in details[0], "red.png" in details[1], "green.png" in details[2]] == [True] * 3
    public.wait_for_function("[...document.querySelectorAll('[data-gallery] img')].every((i) => i.naturalWidth > 0)")
    screenshot(public, "post-page.png")
    visitor.close()
