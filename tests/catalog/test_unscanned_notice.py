"""Until a virus scanner is configured, every file says once, on the model page and in the API's message, that it
was not scanned for viruses on this server, instead of a "Pending" that never ends; with a scanner configured, a
file waiting for its scan says Pending as before."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.catalog.files.scanning import NOT_SCANNED
from modelyard.catalog.tasks import scan_file
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import create_user

HTML = {"Accept": "text/html"}


@pytest.fixture
def published(runtime: Runtime) -> Any:
    return create_model(runtime, create_user(runtime), versions=1, published=True, with_post=False)


def files_of(client: Any, version_id: int) -> list[dict[str, Any]]:
    body = client.get(f"/api/v1/model-versions/{version_id}").json()
    files: list[dict[str, Any]] = body["files"]
    return files


def test_the_page_and_the_api_say_not_scanned_once_per_file(client, runtime, published):
    version_id = published.version_ids[0]
    # Before the scan job ran (nothing recorded yet) and after it (its message recorded): the same words.
    for _ in ("before the scan job", "after it"):
        page = client.get(f"/models/{published.id}", headers=HTML).text
        assert page.count(NOT_SCANNED) == 1 and "Virus scan: Pending" not in page
        (file,) = files_of(client, version_id)
        assert (file["virusScanResult"], file["virusScanMessage"]) == ("Pending", NOT_SCANNED)
        with runtime.db.transaction() as session:
            scan_file.spec.func(session, file_id=published.file_ids[0])


def test_with_a_scanner_configured_a_waiting_file_says_pending(client, runtime, published, monkeypatch):
    with runtime.db.transaction() as session:
        scan_file.spec.func(session, file_id=published.file_ids[0])  # recorded "not scanned" meanwhile
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"clamd_address": "127.0.0.1:9"}))
    page = client.get(f"/models/{published.id}", headers=HTML).text
    assert "Virus scan: Pending" in page and NOT_SCANNED not in page
    (file,) = files_of(client, published.version_ids[0])
    assert (file["virusScanResult"], file["virusScanMessage"]) == ("Pending", None)
