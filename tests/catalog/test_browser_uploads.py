"""The web uploader in a real browser: an upload cut off halfway shows its progress from the server after a reload,
and choosing the same file again resumes it (the parts already sent are not sent again)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext
from sqlalchemy import select

from modelyard.catalog.enums import UploadStatus
from modelyard.catalog.models import FileUpload, ModelFile
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user
from tests.support.uploads import MIB, big_safetensors, run_verification, running_jobs, send_parts, start
from tests.web.test_account_browser import log_in_through_the_form
from tests.web.test_browser import PageProblems, screenshot
from tests.web.test_browser import base_url as base_url
from tests.web.test_browser import browser as browser
from tests.web.test_browser import context as context

pytestmark = pytest.mark.browser


@pytest.fixture
def jobs(runtime: Runtime) -> Iterator[None]:
    with running_jobs(runtime):
        yield


@pytest.mark.usefixtures("jobs")
def test_an_interrupted_upload_shows_its_progress_and_resumes_in_the_page(
    context: BrowserContext, runtime: Runtime, client, tmp_path: Path
) -> None:
    owner = create_user(runtime, username="bigfiles")
    version_id = create_model(runtime, owner, with_files=False, with_post=False).version_ids[0]
    data = big_safetensors(70 * MIB)  # three parts of 32 MiB
    path = tmp_path / "big.safetensors"
    path.write_bytes(data)
    # The first part went up before the connection (or the tab) was lost.
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    upload = start(client, version_id, headers, data, filename="big.safetensors", part_size=None).json()
    assert upload["part_count"] == 3
    send_parts(client, upload, headers, data, [1])

    page = context.new_page()
    problems = PageProblems(page)
    log_in_through_the_form(page, owner, f"/model-versions/{version_id}/edit")
    page.wait_for_url(f"**/model-versions/{version_id}/edit", wait_until="networkidle")
    row = page.locator(f'[data-upload-id="{upload["id"]}"]')
    assert row.locator("progress").get_attribute("value") == str(32 * MIB)
    assert "Choose the same file below to resume" in row.inner_text()
    screenshot(page, "catalog-upload-interrupted.png")

    page.get_by_label("File", exact=True).set_input_files(str(path))
    with page.expect_navigation(url="**done=file-uploaded", wait_until="networkidle", timeout=60_000):
        page.get_by_role("button", name="Upload file", exact=True).click()
    assert "big.safetensors" in page.locator(".item-list").first.inner_text()
    assert page.locator("[data-upload-list]").is_hidden()
    screenshot(page, "catalog-upload-resumed.png")

    with runtime.db.session() as session:
        uploads = session.scalars(select(FileUpload).where(FileUpload.model_version_id == version_id)).all()
        assert [(u.id, u.status) for u in uploads] == [(upload["id"], UploadStatus.Complete)]  # resumed, not redone
        stored = session.scalars(select(ModelFile).where(ModelFile.model_version_id == version_id)).one()
        assert runtime.storage.read_bytes(stored.storage_key) == data
    assert problems.items == []


def test_a_failed_upload_says_why_and_can_be_dismissed(context: BrowserContext, runtime: Runtime, client) -> None:
    owner = create_user(runtime, username="wrongsum")
    version_id = create_model(runtime, owner, with_files=False, with_post=False).version_ids[0]
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    data = big_safetensors(6 * MIB)
    upload = start(client, version_id, headers, data, sha256="00" * 32).json()
    send_parts(client, upload, headers, data, [1, 2])
    assert client.post(f"/api/uploads/{upload['id']}/complete", headers=headers).status_code == 202
    run_verification(runtime)
    page = context.new_page()
    problems = PageProblems(page)
    log_in_through_the_form(page, owner, f"/model-versions/{version_id}/edit")
    page.wait_for_url(f"**/model-versions/{version_id}/edit", wait_until="networkidle")
    row = page.locator(f'[data-upload-id="{upload["id"]}"]')
    assert "Refused: SHA-256 mismatch" in row.inner_text()
    screenshot(page, "catalog-upload-failed.png")
    row.get_by_role("button", name="Dismiss model.safetensors").click()
    row.wait_for(state="detached")
    page.reload(wait_until="networkidle")
    assert page.locator(f'[data-upload-id="{upload["id"]}"]').count() == 0
    assert problems.items == []
