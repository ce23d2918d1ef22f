"""Pickle scanning by content: a dangerous file is quarantined and takes its version down; safe ones pass."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from datetime import timedelta

from sqlalchemy import update

from modelyard.accounts.models import User
from modelyard.catalog import files
from modelyard.catalog.enums import FileVisibility, ModelStatus, ScanResult
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.catalog.safetensors import tiny_lora
from modelyard.catalog.scanning import rescan_stalled, scan_file
from modelyard.core.db import utcnow
from modelyard.core.jobs.models import Job
from tests.support.catalog import create_model
from tests.support.factories import create_user


class RunsCode:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo owned",))


class ImportsAnything:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        import importlib

        return (importlib.import_module, ("os",))


def torch_zip(payload: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", b"3\n")
    return out.getvalue()


def add(runtime, owner, version_id: int, name: str, data: bytes) -> int:
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        version = session.get(ModelVersion, version_id)
        assert user is not None and version is not None
        return files.add_file(
            session, user, version, filename=name, stream=io.BytesIO(data), file_type="Pruned Model"
        ).id


def scan(runtime, file_id: int) -> ModelFile:
    with runtime.db.transaction() as session:
        scan_file.spec.func(session, file_id=file_id)
    with runtime.db.session() as session:
        found = session.get(ModelFile, file_id)
        assert found is not None
        session.expunge(found)
        return found


def test_uploads_ask_for_a_scan(runtime):
    owner = create_user(runtime)
    made = create_model(runtime, owner)
    with runtime.db.session() as session:
        jobs = session.query(Job).filter(Job.name == "catalog.scan_file").all()
        assert [job.payload["file_id"] for job in jobs] == made.file_ids
        assert session.get(ModelFile, made.file_ids[0]).scan_requested_at is not None  # type: ignore[union-attr]


def test_safe_files_pass(runtime):
    owner = create_user(runtime)
    made = create_model(runtime, owner)
    assert scan(runtime, made.file_ids[0]).pickle_scan_result == ScanResult.Success  # safetensors: no code
    benign = add(runtime, owner, made.version_ids[0], "weights.ckpt", pickle.dumps({"state_dict": {"w": [1.0]}}))
    scanned = scan(runtime, benign)
    assert scanned.pickle_scan_result == ScanResult.Success and scanned.scanned_at is not None
    assert scanned.virus_scan_result == ScanResult.Pending and "No virus scanner" in (scanned.virus_scan_message or "")


def test_a_dangerous_pickle_is_quarantined_and_takes_its_version_down(runtime, client):
    owner = create_user(runtime)
    made = create_model(runtime, owner, versions=2, published=True)
    evil = add(runtime, owner, made.version_ids[0], "model.ckpt", torch_zip(pickle.dumps(RunsCode())))
    scanned = scan(runtime, evil)
    assert scanned.pickle_scan_result == ScanResult.Danger and "system" in (scanned.pickle_scan_message or "")
    assert scanned.visibility == FileVisibility.Private
    with runtime.db.session() as session:
        version = session.get(ModelVersion, made.version_ids[0])
        other = session.get(ModelVersion, made.version_ids[1])
        assert version is not None and other is not None
        assert (
            version.status == ModelStatus.UnpublishedViolation
            and "failed its scan" in version.meta["unpublishedReason"]
        )
        assert other.status == ModelStatus.Published  # the model stays up on its clean version
        assert session.get(Model, made.id).status == ModelStatus.Published  # type: ignore[union-attr]
    assert client.get(f"/api/download/models/{made.version_ids[0]}?fileId={evil}").status_code == 404


def test_imports_outside_the_allowed_set_count_as_danger(runtime):
    owner = create_user(runtime)
    made = create_model(runtime, owner)
    sneaky = add(runtime, owner, made.version_ids[0], "emb.pt", pickle.dumps(ImportsAnything()))
    assert scan(runtime, sneaky).pickle_scan_result == ScanResult.Danger


def test_stalled_scans_are_sent_again(runtime):
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_files=False)
    file_id = add(runtime, owner, made.version_ids[0], "a.safetensors", tiny_lora(1))
    with runtime.db.transaction() as session:
        session.execute(update(ModelFile).values(scan_requested_at=utcnow() - timedelta(hours=2)))
        session.execute(Job.__table__.delete())
    with runtime.db.transaction() as session:
        rescan_stalled.spec.func(session)
    with runtime.db.session() as session:
        assert [job.payload["file_id"] for job in session.query(Job).filter(Job.name == "catalog.scan_file")] == [
            file_id
        ]
