"""Pickle scanning by content: a dangerous file is quarantined and takes its version down; safe ones pass. A scan
that cannot finish holds the file until a moderator decides; a hostile file costs a bounded scan in a process of its
own; and the scan keeps no transaction open while it reads the file."""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
import struct
import zipfile
from datetime import timedelta

from sqlalchemy import delete, select, update

from modelyard.accounts.models import Role, User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.enums import FileVisibility, ModelStatus, ScanResult
from modelyard.catalog.files import service as files
from modelyard.catalog.files.pickle_walk import ALLOWED_IMPORTS
from modelyard.catalog.files.safetensors import tiny_lora
from modelyard.catalog.files.scanning import rescan_stalled, scan_file
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.jobs.models import Job, JobStatus
from modelyard.core.jobs.runner import execute
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user, log_in
from tests.support.storage import paused_mid_read


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
        scan_file(session, file_id=file_id)
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
    assert scanned.virus_scan_result == ScanResult.Pending
    assert scanned.virus_scan_message == "Not scanned for viruses on this server"


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
        rescan_stalled(session)
    with runtime.db.session() as session:
        assert [job.payload["file_id"] for job in session.query(Job).filter(Job.name == "catalog.scan_file")] == [
            file_id
        ]


# --- a scan's verdict decides publishing and downloads (issue 14) ----------------------------------------------

# The probe's 40-byte checkpoint: os.system("echo owned") runs as it loads, then the unpickler meets garbage.
BROKEN_AFTER_IMPORT = b"cos\nsystem\n(S'echo owned'\ntR" + b"\xff" * 12


def api_key_headers(runtime, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(runtime, user)}"}


def upload(client, headers, version_id: int, name: str, data: bytes) -> int:
    response = client.post(f"/api/model-versions/{version_id}/files", files={"file": (name, data)}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def download_status(client, version_id: int, file_id: int, headers=None) -> int:
    url = f"/api/download/models/{version_id}?fileId={file_id}"
    return client.get(url, headers=headers or {}, follow_redirects=False).status_code


def use_settings(monkeypatch, runtime, **changes) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update=changes))


def held_truncated_zip(runtime, client, headers, version_id: int) -> int:
    """A file whose scan errors: a torch zip cut in half, which no zip reader opens."""
    whole = torch_zip(pickle.dumps({"w": [1.0]}, protocol=2))
    file_id = upload(client, headers, version_id, "model.pt", whole[: len(whole) // 2])
    assert scan(runtime, file_id).pickle_scan_result == ScanResult.Error
    return file_id


def test_a_pickle_that_breaks_after_a_dangerous_import_is_danger_and_never_served(runtime, client):
    owner = create_user(runtime)
    headers = api_key_headers(runtime, owner)
    made = create_model(runtime, owner, with_files=False)
    file_id = upload(client, headers, made.version_ids[0], "model.ckpt", BROKEN_AFTER_IMPORT)
    scanned = scan(runtime, file_id)
    assert scanned.pickle_scan_result == ScanResult.Danger and "os.system" in (scanned.pickle_scan_message or "")
    published = client.post(f"/api/models/{made.id}/publish", json={}, headers=headers)
    assert published.status_code == 409 and "failed its scan" in published.json()["detail"]
    assert download_status(client, made.version_ids[0], file_id, headers) == 404


def test_a_checkpoint_is_neither_offered_nor_published_before_its_first_scan(runtime, client):
    owner = create_user(runtime)
    headers = api_key_headers(runtime, owner)
    made = create_model(runtime, owner, with_files=False)
    version_id = made.version_ids[0]
    file_id = upload(client, headers, version_id, "weights.ckpt", pickle.dumps({"state_dict": {"w": [1.0]}}))
    assert download_status(client, version_id, file_id, headers) == 404
    published = client.post(f"/api/models/{made.id}/publish", json={}, headers=headers)
    assert published.status_code == 409 and "still being scanned" in published.json()["detail"]
    assert scan(runtime, file_id).pickle_scan_result == ScanResult.Success
    assert client.post(f"/api/models/{made.id}/publish", json={}, headers=headers).status_code == 200
    assert download_status(client, version_id, file_id) == 307


def test_a_safetensors_file_is_offered_while_its_scans_run(runtime, client):
    owner = create_user(runtime)
    headers = api_key_headers(runtime, owner)
    made = create_model(runtime, owner, with_files=False)
    file_id = upload(client, headers, made.version_ids[0], "lora.safetensors", tiny_lora(1))
    assert client.post(f"/api/models/{made.id}/publish", json={}, headers=headers).status_code == 200
    assert download_status(client, made.version_ids[0], file_id) == 307


def test_a_scan_that_errors_holds_the_file_until_a_moderator_clears_it(runtime, client):
    owner, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    headers, staff = api_key_headers(runtime, owner), api_key_headers(runtime, moderator)
    made = create_model(runtime, owner, with_files=False)
    version_id = made.version_ids[0]
    file_id = held_truncated_zip(runtime, client, headers, version_id)
    # Held: not downloadable even by its owner, and the version cannot be published.
    assert download_status(client, version_id, file_id, headers) == 404
    published = client.post(f"/api/models/{made.id}/publish", json={}, headers=headers)
    assert published.status_code == 409 and "could not be scanned" in published.json()["detail"]
    # The moderators' queue shows it with what the scan said; nobody else sees the queue.
    assert client.get("/api/moderation/held-files", headers=headers).status_code == 403
    queue = client.get("/api/moderation/held-files", headers=staff).json()
    assert [row["id"] for row in queue] == [file_id] and "cannot be read" in queue[0]["pickle_scan_message"]
    where = {key: queue[0][key] for key in ("model_id", "model_name", "version_id")}
    assert where == {"model_id": made.id, "model_name": "Test model", "version_id": version_id}
    decided = client.post(
        f"/api/moderation/held-files/{file_id}/decision",
        json={"decision": "clear", "reason": "Checked by hand: a torn upload, no pickle in it"},
        headers=staff,
    )
    assert decided.status_code == 200, decided.text
    message = decided.json()["pickle_scan_message"]
    assert decided.json()["pickle_scan_result"] == "Success" and moderator.username in message
    assert "a torn upload" in message and "cannot be read" in message
    with runtime.db.session() as session:
        record = session.get(ModelFile, file_id).raw_scan_result["decisions"][-1]
        assert record["decision"] == "clear" and record["moderatorId"] == moderator.id and record["at"]
    assert client.get("/api/moderation/held-files", headers=staff).json() == []
    assert download_status(client, version_id, file_id, headers) == 307
    assert client.post(f"/api/models/{made.id}/publish", json={}, headers=headers).status_code == 200


def test_blocking_a_held_file_takes_its_version_down(runtime, client):
    owner, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    headers = api_key_headers(runtime, owner)
    made = create_model(runtime, owner, published=True)
    version_id = made.version_ids[0]
    file_id = held_truncated_zip(runtime, client, headers, version_id)
    assert download_status(client, version_id, file_id) == 404  # held, while the version's other file is offered
    assert download_status(client, version_id, made.file_ids[0]) == 307
    decided = client.post(
        f"/api/moderation/held-files/{file_id}/decision",
        json={"decision": "block", "reason": "Hides a second archive"},
        headers=api_key_headers(runtime, moderator),
    )
    assert decided.status_code == 200 and decided.json()["pickle_scan_result"] == "Danger"
    with runtime.db.session() as session:
        version = session.get(ModelVersion, version_id)
        assert version is not None and version.status == ModelStatus.UnpublishedViolation
        assert "Hides a second archive" in version.meta["unpublishedReason"]


def test_a_rescan_clears_a_file_once_the_limit_allows_it(runtime, client, monkeypatch):
    owner, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    headers = api_key_headers(runtime, owner)
    made = create_model(runtime, owner, with_files=False)
    version_id = made.version_ids[0]
    use_settings(monkeypatch, runtime, pickle_scan_max_opcodes=1000)
    file_id = upload(client, headers, version_id, "model.ckpt", pickle.dumps(list(range(2000)), protocol=2))
    scanned = scan(runtime, file_id)
    assert scanned.pickle_scan_result == ScanResult.Error and "over 1000 pickle operations" in (
        scanned.pickle_scan_message or ""
    )
    decided = client.post(
        f"/api/moderation/held-files/{file_id}/decision",
        json={"decision": "rescan", "reason": "Limit raised"},
        headers=api_key_headers(runtime, moderator),
    )
    assert decided.status_code == 200 and decided.json()["pickle_scan_result"] == "Pending"
    assert decided.json()["visibility"] == "Private"  # still held until a clean result
    with runtime.db.session() as session:
        assert session.query(Job).filter(Job.name == "catalog.scan_file").count() == 2
    monkeypatch.undo()
    rescanned = scan(runtime, file_id)
    assert rescanned.pickle_scan_result == ScanResult.Success and rescanned.visibility == FileVisibility.Public
    assert download_status(client, version_id, file_id, headers) == 307


def test_decisions_need_a_moderator_a_reason_and_a_file_waiting_for_one(runtime, client):
    owner, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    headers, staff = api_key_headers(runtime, owner), api_key_headers(runtime, moderator)
    made = create_model(runtime, owner)
    held = held_truncated_zip(runtime, client, headers, made.version_ids[0])
    url = f"/api/moderation/held-files/{held}/decision"
    assert client.post(url, json={"decision": "clear", "reason": "mine"}, headers=headers).status_code == 403
    limited = api_key_headers_with_scope(runtime, moderator)
    assert client.post(url, json={"decision": "clear", "reason": "x"}, headers=limited).status_code == 403
    assert client.post(url, json={"decision": "clear", "reason": ""}, headers=staff).status_code == 422
    assert client.post(url, json={"decision": "delete", "reason": "x"}, headers=staff).status_code == 422
    assert client.post(url, json={"decision": "clear", "reason": " " * 3}, headers=staff).status_code == 422
    clean = made.file_ids[0]
    scan(runtime, clean)
    answer = client.post(
        f"/api/moderation/held-files/{clean}/decision", json={"decision": "clear", "reason": "x"}, headers=staff
    )
    assert answer.status_code == 409 and "not waiting" in answer.json()["detail"]
    assert client.post(url, json={"decision": "block", "reason": "x"}, headers=staff).status_code == 200
    assert client.post(url, json={"decision": "clear", "reason": "x"}, headers=staff).status_code == 409
    missing = client.post(
        "/api/moderation/held-files/2147483647/decision", json={"decision": "clear", "reason": "x"}, headers=staff
    )
    assert missing.status_code == 404


def api_key_headers_with_scope(runtime, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(runtime, user, scopes=TokenScope.ModelsRead)}"}


def test_moderators_find_held_files_from_the_moderation_pages_and_decide_there(runtime, client):
    owner, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    made = create_model(runtime, owner, with_files=False)
    file_id = held_truncated_zip(runtime, client, api_key_headers(runtime, owner), made.version_ids[0])
    log_in(client, owner)
    assert client.get("/moderation/held-files").status_code == 403
    log_in(client, moderator)
    assert 'href="/moderation/held-files"' in client.get("/admin").text
    page = client.get("/moderation/held-files")
    assert page.status_code == 200 and "model.pt" in page.text and "cannot be read" in page.text
    answer = client.post(f"/moderation/held-files/{file_id}", data={"decision": "clear", "reason": ""})
    assert answer.status_code == 422 and "reason is required" in answer.text
    answer = client.post(
        f"/moderation/held-files/{file_id}",
        data={"decision": "clear", "reason": "Looked at it"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/moderation/held-files?done=file-cleared"
    with runtime.db.session() as session:
        assert session.get(ModelFile, file_id).pickle_scan_result == ScanResult.Success
    assert "No file is waiting for a decision" in client.get("/moderation/held-files").text


def test_files_whose_scan_errored_before_holding_existed_are_held_by_the_sweep(runtime):
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    with runtime.db.transaction() as session:  # as recorded before errors held files
        session.execute(update(ModelFile).values(pickle_scan_result=ScanResult.Error, scan_requested_at=utcnow()))
    with runtime.db.transaction() as session:
        rescan_stalled(session)
    with runtime.db.session() as session:
        assert session.get(ModelFile, made.file_ids[0]).visibility == FileVisibility.Private


# --- a hostile file costs a bounded scan, in a process of its own (issue 14) -------------------------------------


def scan_job(runtime, file_id: int) -> Job:
    """Run the file's queued scan job the way a worker does; the job afterwards."""
    with runtime.db.session() as session:
        jobs = session.scalars(select(Job).where(Job.name == "catalog.scan_file")).all()
        job_id = next((job.id for job in jobs if job.payload["file_id"] == file_id), None)
    assert job_id is not None
    execute(runtime, job_id)
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def stored_file(runtime, file_id: int) -> ModelFile:
    with runtime.db.session() as session:
        found = session.get(ModelFile, file_id)
        assert found is not None
        session.expunge(found)
        return found


def test_a_zip_bomb_is_held_as_too_large_and_not_retried(runtime, monkeypatch):
    use_settings(monkeypatch, runtime, pickle_scan_max_bytes=4 * 1024 * 1024)
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_files=False)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x04(" + b")" * (10 * 1024 * 1024) + b"l.")  # 10 MiB of pickle
    assert len(bomb.getvalue()) < 20_000
    file_id = add(runtime, owner, made.version_ids[0], "model.pt", bomb.getvalue())
    job = scan_job(runtime, file_id)
    assert job.status == JobStatus.succeeded and job.attempts == 1  # the file's fault: recorded, not retried
    file = stored_file(runtime, file_id)
    assert file.pickle_scan_result == ScanResult.Error and "too large to scan" in (file.pickle_scan_message or "")
    assert file.visibility == FileVisibility.Private


def test_a_scan_past_its_memory_limit_is_an_error(runtime, monkeypatch):
    use_settings(monkeypatch, runtime, pickle_scan_memory_mb=128, pickle_scan_max_opcodes=50_000_000)
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_files=False)
    # Two million memo entries under scattered keys: about 5 bytes each in the file, far more in any memo.
    sparse_memo = b"\x80\x04N" + b"".join(b"r" + struct.pack("<I", 2 * key + 1) for key in range(2_000_000)) + b"."
    file = scan(runtime, add(runtime, owner, made.version_ids[0], "model.pkl", sparse_memo))
    assert file.pickle_scan_result == ScanResult.Error and "128 MiB of memory" in (file.pickle_scan_message or "")


def test_a_scan_past_its_time_limit_is_an_error(runtime, monkeypatch):
    use_settings(monkeypatch, runtime, pickle_scan_timeout_seconds=1, pickle_scan_max_opcodes=50_000_000)
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_files=False)
    slow = b"\x80\x04(" + b")" * 20_000_000 + b"l."  # seconds of walking
    file = scan(runtime, add(runtime, owner, made.version_ids[0], "model.pkl", slow))
    assert file.pickle_scan_result == ScanResult.Error and "timed out" in (file.pickle_scan_message or "")


def test_imports_found_before_a_limit_is_reached_still_mean_danger(runtime, monkeypatch):
    use_settings(monkeypatch, runtime, pickle_scan_max_opcodes=1000)
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_files=False)
    data = b"cos\nsystem\n" + b"N" * 5000 + b"."
    file = scan(runtime, add(runtime, owner, made.version_ids[0], "model.ckpt", data))
    assert file.pickle_scan_result == ScanResult.Danger and "os.system" in (file.pickle_scan_message or "")


def test_the_allowed_imports_are_not_renamed_by_pickles_python_2_mapping():
    # Protocol 0-2 pickles are loaded with fix_imports: a mapped name would import something else than we allowed.
    for module, name in ALLOWED_IMPORTS:
        assert module not in _compat_pickle.IMPORT_MAPPING and (module, name) not in _compat_pickle.NAME_MAPPING


# --- the scan keeps no transaction open while it reads the file (issue 14) ---------------------------------------


def test_a_scan_holds_no_write_lock_while_it_reads_the_file(runtime, client):
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_files=False)
    file_id = add(runtime, owner, made.version_ids[0], "model.ckpt", pickle.dumps({"w": [1.0]}, protocol=2))
    with paused_mid_read(runtime, stored_file(runtime, file_id).storage_key, lambda paused: scan_job(paused, file_id)):
        with runtime.db.transaction() as session:  # another writer while the scan is paused mid-read
            session.execute(update(ModelFile).where(ModelFile.id == file_id).values(name="renamed.ckpt"))
        log_in(client, owner)  # writes a session: answered 200, not 503
    file = stored_file(runtime, file_id)
    assert file.pickle_scan_result == ScanResult.Success and file.name == "renamed.ckpt"


def test_a_file_deleted_while_it_is_scanned_is_left_alone(runtime):
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_files=False)
    file_id = add(runtime, owner, made.version_ids[0], "model.ckpt", pickle.dumps({"w": [1.0]}, protocol=2))
    outcome: list[Job] = []
    key = stored_file(runtime, file_id).storage_key
    with (
        paused_mid_read(runtime, key, lambda paused: outcome.append(scan_job(paused, file_id))),
        runtime.db.transaction() as session,
    ):
        session.execute(delete(ModelFile).where(ModelFile.id == file_id))
    assert outcome and outcome[0].status == JobStatus.succeeded
