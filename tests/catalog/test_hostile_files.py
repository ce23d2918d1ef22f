"""Every file of the hostile corpus (tests/support/hostile_files.py) through the real path: uploaded through the
API (inspection), scanned by the scan job (the sandboxed pickle walk), then asked for as an anonymous download.
Whatever changes in scanning or inspection runs this."""

from __future__ import annotations

import pytest

from modelyard.catalog.enums import FileVisibility, ScanResult
from modelyard.catalog.models import ModelFile
from tests.catalog.test_scanning import scan
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user
from tests.support.hostile_files import CORPUS_LIMITS, HostileFile, hostile_files

CASES = hostile_files()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_hostile_file_gets_its_verdict(runtime, client, monkeypatch, case: HostileFile):
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update=CORPUS_LIMITS))
    owner = create_user(runtime)
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    made = create_model(runtime, owner, published=True)
    version_id = made.version_ids[0]
    response = client.post(
        f"/api/model-versions/{version_id}/files",
        files={"file": (case.filename, case.data)},
        data={"type": "Model"},
        headers=headers,
    )
    if case.verdict == "refused":
        assert 400 <= response.status_code < 500 and case.says in response.json()["detail"], response.text
        with runtime.db.session() as session:
            assert session.query(ModelFile).count() == 1  # the model's own file only
        return
    assert response.status_code == 201, response.text
    scanned = scan(runtime, response.json()["id"])
    assert scanned.pickle_scan_result == ScanResult(case.verdict), scanned.pickle_scan_message
    assert case.says in (scanned.pickle_scan_message or "")
    held = case.verdict != "Success"
    assert (scanned.visibility == FileVisibility.Private) is held
    download = client.get(f"/api/download/models/{version_id}?fileId={scanned.id}", follow_redirects=False)
    assert download.status_code == (404 if held else 307), download.text
