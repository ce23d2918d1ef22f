"""Virus scanning against a real clamd: clean files pass, infected ones are quarantined and take their version
down, a file over clamd's stream limit is an Error saying what to change, and clamd being down fails the job so
it is retried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from modelyard.catalog.enums import FileVisibility, ModelStatus, ScanResult
from modelyard.catalog.files.safetensors import encode, tiny_lora
from modelyard.catalog.models import ModelFile, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.jobs import Job, JobStatus
from modelyard.core.jobs.runner import execute
from modelyard.core.runtime import Runtime
from modelyard.core.settings import Settings
from modelyard.core.virus import Clamd, ClamdUnavailable, parse_address
from tests.catalog.test_scanning import add, scan
from tests.support.catalog import create_model
from tests.support.clamd import MARKER, SIGNATURE_NAME, STREAM_MAX_LENGTH, ClamdProcess, start_clamd
from tests.support.factories import create_user, log_in


@pytest.fixture(scope="module")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdProcess]:
    started = start_clamd(tmp_path_factory.mktemp("clamd"))
    yield started
    started.stop()


def use_clamd(monkeypatch: pytest.MonkeyPatch, runtime: Runtime, address: str) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"clamd_address": address}))


def infected_lora(seed: int) -> bytes:
    return tiny_lora(seed, metadata={"notes": MARKER.decode()})


def test_a_clean_file_passes(runtime, clamd, monkeypatch):
    use_clamd(monkeypatch, runtime, clamd.address)
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    file = scan(runtime, made.file_ids[0])
    assert (file.virus_scan_result, file.virus_scan_message) == (ScanResult.Success, "No virus found")
    assert file.pickle_scan_result == ScanResult.Success and file.visibility != FileVisibility.Private


def test_an_infected_file_is_quarantined_and_takes_its_version_down(runtime, client, clamd, monkeypatch):
    use_clamd(monkeypatch, runtime, clamd.address)
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    infected = add(runtime, owner, made.version_ids[0], "infected.safetensors", infected_lora(2))
    file = scan(runtime, infected)
    assert file.virus_scan_result == ScanResult.Danger and SIGNATURE_NAME in (file.virus_scan_message or "")
    assert file.pickle_scan_result == ScanResult.Success  # safetensors hold no code; the virus scan decided
    assert file.visibility == FileVisibility.Private
    with runtime.db.session() as session:
        version = session.get(ModelVersion, made.version_ids[0])
        assert version is not None and version.status == ModelStatus.UnpublishedViolation
        assert SIGNATURE_NAME in version.meta["unpublishedReason"]
    assert client.get(f"/api/download/models/{made.version_ids[0]}?fileId={infected}").status_code == 404
    log_in(client, owner)
    page = client.get(f"/models/{made.id}")
    assert page.status_code == 200 and f"The virus scanner found {SIGNATURE_NAME}" in page.text


def test_a_file_over_the_stream_limit_is_an_error_saying_what_to_raise(runtime, clamd, monkeypatch):
    use_clamd(monkeypatch, runtime, clamd.address)
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_files=False)
    big = encode({"weight": ("U8", [STREAM_MAX_LENGTH + 4096], bytes(STREAM_MAX_LENGTH + 4096))})
    file = scan(runtime, add(runtime, owner, made.version_ids[0], "big.safetensors", big))
    assert file.virus_scan_result == ScanResult.Error and "StreamMaxLength" in (file.virus_scan_message or "")
    assert file.visibility == FileVisibility.Private  # not scanned is not clean: held until a moderator decides


def test_clamd_down_fails_the_job_and_the_retry_scans(runtime, clamd, monkeypatch, tmp_path: Path):
    use_clamd(monkeypatch, runtime, str(tmp_path / "nobody-listens.sock"))
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_files=False)
    file_id = add(runtime, owner, made.version_ids[0], "model.safetensors", infected_lora(3))
    with runtime.db.session() as session:
        job_id = session.scalar(select(Job.id).where(Job.name == "catalog.scan_file"))
    assert job_id is not None
    execute(runtime, job_id)
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        file = session.get(ModelFile, file_id)
        assert job is not None and file is not None
        assert job.status == JobStatus.pending and job.attempts == 1 and "cannot be reached" in (job.last_error or "")
        # Nothing was recorded: the pickle result waits with the virus result for the retry.
        assert (file.virus_scan_result, file.pickle_scan_result) == (ScanResult.Pending, ScanResult.Pending)
    use_clamd(monkeypatch, runtime, clamd.address)
    with runtime.db.transaction() as session:
        session.execute(update(Job).where(Job.id == job_id).values(run_after=utcnow()))
    execute(runtime, job_id)
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        file = session.get(ModelFile, file_id)
        assert job is not None and file is not None and job.status == JobStatus.succeeded
        assert file.virus_scan_result == ScanResult.Danger and file.visibility == FileVisibility.Private


def test_the_client_pings_and_names_an_unreachable_daemon(clamd, tmp_path: Path):
    Clamd(clamd.address).ping()
    with pytest.raises(ClamdUnavailable, match="cannot be reached"):
        Clamd(str(tmp_path / "missing.sock")).ping()


@pytest.mark.parametrize("address", ["clamd.sock", "tcp://host", "tcp://:3310", "tcp://host:99999"])
def test_a_bad_address_is_refused_with_the_expected_forms(address):
    with pytest.raises(ValueError, match="clamd address"):
        parse_address(address)
    with pytest.raises(ValueError, match="clamd address"):
        Settings(clamd_address=address)


def test_readyz_reports_clamd_without_failing_on_it(runtime, client, clamd, monkeypatch, tmp_path: Path):
    use_clamd(monkeypatch, runtime, clamd.address)
    body = client.get("/readyz").json()
    assert body["checks"]["clamd"] == {"ok": True, "required": False}
    use_clamd(monkeypatch, runtime, str(tmp_path / "gone.sock"))
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["failed"] == []
    assert response.json()["checks"]["clamd"]["ok"] is False
