"""Resumable uploads through the JSON API: parts in any order, resuming, verification and the bad input a flaky
link or a careless client sends. Runs against local storage and against a real S3 server (scaled pass)."""

from __future__ import annotations

import hashlib
import pickle
import socket
import struct
import threading
import time
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.enums import ModelStatus, UploadStatus
from modelyard.catalog.files.hashing import hash_chunks
from modelyard.catalog.files.uploads import tidy_uploads
from modelyard.catalog.models import FileUpload, ModelFile, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.jobs.models import Job, JobStatus
from modelyard.core.storage.local import LocalStorage
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user, log_in
from tests.support.live_server import live_server
from tests.support.storage import paused_mid_read
from tests.support.uploads import (
    MIB,
    PART,
    big_safetensors,
    put_part,
    run_verification,
    send_parts,
    start,
    upload_whole,
)


@pytest.fixture
def owner(runtime):
    user = create_user(runtime)
    return user, {"Authorization": f"Bearer {create_api_key(runtime, user)}"}


@pytest.fixture
def version_id(runtime, owner):
    return create_model(runtime, owner[0], with_files=False, with_post=False).version_ids[0]


@pytest.fixture(scope="module")
def data() -> bytes:
    return big_safetensors(12 * MIB)  # three parts: 5 MiB, 5 MiB and the rest


def files_of(runtime, version_id: int) -> list[ModelFile]:
    with runtime.db.session() as session:
        return list(session.scalars(select(ModelFile).where(ModelFile.model_version_id == version_id)))


def upload_row(runtime, upload_id: int) -> FileUpload:
    with runtime.db.session() as session:
        row = session.get(FileUpload, upload_id)
        assert row is not None
        session.expunge(row)
        return row


class TestHappyPath:
    def test_parts_in_any_order_become_a_hashed_inspected_file(self, runtime, client, owner, version_id, data):
        _, headers = owner
        started = start(client, version_id, headers, data, sha256=hashlib.sha256(data).hexdigest())
        assert started.status_code == 201, started.text
        upload = started.json()
        assert (upload["status"], upload["part_count"], upload["part_size"]) == ("Uploading", 3, PART)
        send_parts(client, upload, headers, data, [3, 1, 2])
        response = client.post(f"/api/uploads/{upload['id']}/complete", headers=headers)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "Verifying"
        assert run_verification(runtime) == 1

        final = client.get(f"/api/uploads/{upload['id']}", headers=headers).json()
        assert final["status"] == "Complete", final
        expected, size = hash_chunks([data])
        file = final["file"]
        assert file["name"] == "model.safetensors" and file["primary"] is True
        assert file["hashes"] == {kind.value: value for kind, value in expected.items()}
        assert file["size_kb"] == size / 1024
        assert file["metadata"]["format"] == "SafeTensor" and file["metadata"]["fp"] == "fp16"
        assert file["inspection"]["tensorCount"] == 1
        stored = files_of(runtime, version_id)
        assert [f.id for f in stored] == [file["id"]]
        assert runtime.storage.read_bytes(stored[0].storage_key) == data
        page = client.get(f"/api/model-versions/{version_id}", headers=headers).json()
        assert [f["id"] for f in page["files"]] == [file["id"]]

    def test_resume_sends_only_the_missing_parts(self, runtime, client, owner, version_id, data):
        _, headers = owner
        upload = start(client, version_id, headers, data).json()
        send_parts(client, upload, headers, data, [1, 3])
        status = client.get(f"/api/uploads/{upload['id']}", headers=headers).json()
        assert [p["part_number"] for p in status["parts"]] == [1, 3]
        assert status["bytes_received"] == PART + (len(data) - 2 * PART)
        early = client.post(f"/api/uploads/{upload['id']}/complete", headers=headers)
        assert early.status_code == 409 and early.json()["missing"] == [2], early.text
        assert upload_row(runtime, upload["id"]).status == UploadStatus.Uploading

        send_parts(client, upload, headers, data, [2])
        assert client.post(f"/api/uploads/{upload['id']}/complete", headers=headers).status_code == 202
        again = client.post(f"/api/uploads/{upload['id']}/complete", headers=headers)
        assert again.status_code == 202 and again.json()["status"] == "Verifying"  # a retried request is harmless
        assert run_verification(runtime) == 1
        final = client.get(f"/api/uploads/{upload['id']}", headers=headers).json()
        assert final["status"] == "Complete"
        assert runtime.storage.read_bytes(files_of(runtime, version_id)[0].storage_key) == data

    def test_a_part_sent_twice_keeps_the_latest(self, runtime, client, owner, version_id, data):
        if not isinstance(runtime.storage, LocalStorage):
            pytest.skip("rclone's S3 server refuses to replace a part (501); S3 itself replaces it")
        _, headers = owner
        upload = start(client, version_id, headers, data).json()
        garbage = bytes(PART)
        send_parts(client, upload, headers, garbage + garbage + data[2 * PART :], [1, 2, 3])
        send_parts(client, upload, headers, data, [1, 2])
        final = upload_whole_status(client, runtime, upload, headers)
        assert final["status"] == "Complete"
        assert runtime.storage.read_bytes(files_of(runtime, version_id)[0].storage_key) == data

    def test_verification_after_a_crash_past_the_join_finishes_once(self, runtime, client, owner, version_id, data):
        _, headers = owner
        upload = start(client, version_id, headers, data).json()
        send_parts(client, upload, headers, data, [1, 2, 3])
        assert client.post(f"/api/uploads/{upload['id']}/complete", headers=headers).status_code == 202
        row = upload_row(runtime, upload["id"])
        parts = runtime.storage.list_parts(row.storage_key, row.multipart_id)
        # The worker died right after joining the parts: the job runs again from there.
        runtime.storage.complete_multipart(row.storage_key, row.multipart_id, [(n, etag) for n, etag, _ in parts])
        assert run_verification(runtime) == 1
        assert client.get(f"/api/uploads/{upload['id']}", headers=headers).json()["status"] == "Complete"
        assert len(files_of(runtime, version_id)) == 1


def upload_whole_status(client, runtime, upload, headers) -> dict:
    assert client.post(f"/api/uploads/{upload['id']}/complete", headers=headers).status_code == 202
    run_verification(runtime)
    result: dict = client.get(f"/api/uploads/{upload['id']}", headers=headers).json()
    return result


class TestRefusedFiles:
    """What the verification refuses fails the upload and keeps nothing: no file row, no object, no parts."""

    def assert_nothing_kept(self, runtime, version_id: int, upload_id: int) -> None:
        assert files_of(runtime, version_id) == []
        row = upload_row(runtime, upload_id)
        assert row.status == UploadStatus.Failed and row.active_name is None
        assert not runtime.storage.exists(row.storage_key)
        assert not list(runtime.storage.iter_keys(row.storage_key.rsplit("/", 1)[0]))

    def test_wrong_checksum(self, runtime, client, owner, version_id, data):
        _, headers = owner
        final = upload_whole(client, runtime, version_id, owner[1], data, sha256="AB" * 32)
        assert final["status"] == "Failed" and "SHA-256 mismatch" in final["error"]
        assert hashlib.sha256(data).hexdigest().upper() in final["error"]
        self.assert_nothing_kept(runtime, version_id, final["id"])
        # The name is free again: the corrected upload goes through.
        retry = upload_whole(client, runtime, version_id, headers, data, sha256=hashlib.sha256(data).hexdigest())
        assert retry["status"] == "Complete"

    def test_checksum_given_at_completion(self, runtime, client, owner, version_id, data):
        _, headers = owner
        upload = start(client, version_id, headers, data).json()
        send_parts(client, upload, headers, data, [1, 2, 3])
        body = {"sha256": hashlib.sha256(b"other").hexdigest()}
        assert client.post(f"/api/uploads/{upload['id']}/complete", json=body, headers=headers).status_code == 202
        run_verification(runtime)
        self.assert_nothing_kept(runtime, version_id, upload["id"])

    def test_pickle_named_safetensors(self, runtime, client, owner, version_id):
        payload = pickle.dumps({"weights": list(range(10))}, protocol=2)
        data = payload + bytes(6 * MIB)
        final = upload_whole(client, runtime, version_id, owner[1], data)
        assert final["status"] == "Failed" and "not a safetensors file" in final["error"]
        self.assert_nothing_kept(runtime, version_id, final["id"])

    def test_header_claiming_a_terabyte(self, runtime, client, owner, version_id):
        data = struct.pack("<Q", 1 << 40) + b'{"a":' + bytes(6 * MIB)
        final = upload_whole(client, runtime, version_id, owner[1], data)
        assert final["status"] == "Failed" and "header claims" in final["error"]
        self.assert_nothing_kept(runtime, version_id, final["id"])


class TestBadRequests:
    @pytest.mark.parametrize(
        ("change", "status", "needle"),
        [
            ({"size": 0}, 422, "empty"),
            ({"size": -5}, 422, "empty"),
            ({"sha256": "xyz"}, 422, "64 hexadecimal"),
            ({"part_size": 1024}, 422, "part_size"),
            ({"type": "Banana"}, 422, "File type"),
            ({"filename": "bad\x07name.safetensors"}, 422, "control characters"),
            ({"filename": "../"}, 422, "needs a name"),
            ({"filename": "..."}, 422, "needs a name"),
            ({"filename": ".hidden.safetensors"}, 422, "may not start with a dot"),
            ({"filename": "dir/.env"}, 422, "may not start with a dot"),
            ({"filename": "bad\x85name.safetensors"}, 422, "control characters"),
            ({"filename": "é" * 125 + ".safetensors"}, 422, "at most 255 bytes"),
            ({"metadata": {"fp": "fp3"}}, 422, "fp"),
            ({"size": 10**16}, 422, "at most"),
        ],
    )
    def test_refused_before_any_byte_and_nothing_created(
        self, runtime, client, owner, version_id, change, status, needle
    ):
        body = {"filename": "model.safetensors", "size": 12 * MIB, **change}
        response = client.post(f"/api/model-versions/{version_id}/uploads", json=body, headers=owner[1])
        assert response.status_code == status, response.text
        assert needle in response.text
        assert "storage" not in response.text and "segment" not in response.text  # the user's terms, not ours
        with runtime.db.session() as session:
            assert session.scalar(select(FileUpload.id)) is None

    def test_file_names_are_cleaned_not_trusted(self, runtime, client, owner, version_id):
        _, headers = owner
        for given, kept in [("../../etc/passwd.safetensors", "passwd.safetensors"), ("モデル ✓.safetensors", None)]:
            response = client.post(
                f"/api/model-versions/{version_id}/uploads",
                json={"filename": given, "size": 6 * MIB},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            assert response.json()["filename"] == (kept or given)
            row = upload_row(runtime, response.json()["id"])
            assert ".." not in row.storage_key and row.storage_key.endswith("/" + (kept or given))

    def test_parts_outside_the_upload_and_after_the_end(self, client, owner, version_id, data):
        _, headers = owner
        upload = start(client, version_id, headers, data).json()
        for parts in ([0], [4], [], list(range(1, 102))):
            response = client.post(f"/api/uploads/{upload['id']}/part-urls", json={"parts": parts}, headers=headers)
            assert response.status_code == 422, response.text
        assert client.delete(f"/api/uploads/{upload['id']}", headers=headers).status_code == 204
        late = client.post(f"/api/uploads/{upload['id']}/part-urls", json={"parts": [1]}, headers=headers)
        assert late.status_code == 409 and "Aborted" in late.text
        assert client.post(f"/api/uploads/{upload['id']}/complete", headers=headers).status_code == 409

    def test_a_short_part_is_named_at_completion(self, runtime, client, owner, version_id, data):
        _, headers = owner
        upload = start(client, version_id, headers, data).json()
        send_parts(client, upload, headers, data, [2, 3])
        # Part URLs refuse a short body; a part that got in anyway (an S3 server that does not check the signed
        # length, a URL from before that rule) is still caught here.
        row = upload_row(runtime, upload["id"])
        runtime.storage.upload_part(row.storage_key, row.multipart_id, 1, data[: PART - 1000])
        response = client.post(f"/api/uploads/{upload['id']}/complete", headers=headers)
        assert response.status_code == 409 and "Part 1 has" in response.text, response.text
        assert upload_row(runtime, upload["id"]).status == UploadStatus.Uploading

    @pytest.mark.parametrize("sent", [50 * MIB, 99])
    def test_a_part_url_takes_exactly_the_parts_size(self, runtime, client, owner, version_id, sent):
        """A 100-byte upload's part URL refuses a 50 MiB body (and a short one): nothing is kept."""
        _, headers = owner
        upload = start(client, version_id, headers, bytes(100)).json()
        item = client.post(f"/api/uploads/{upload['id']}/part-urls", json={"parts": [1]}, headers=headers).json()
        assert item["urls"][0]["size"] == 100

        response = put_part(client, item["urls"][0]["url"], b"\0" * sent)

        local = isinstance(runtime.storage, LocalStorage)
        assert response.status_code == ((413 if sent > 100 else 400) if local else 403), response.text
        status = client.get(f"/api/uploads/{upload['id']}", headers=headers).json()
        assert status["parts"] == [] and status["bytes_received"] == 0
        assert not leftovers(runtime, upload["id"])
        assert put_part(client, item["urls"][0]["url"], bytes(100)).status_code == 200

    def test_others_see_nothing_and_keys_need_the_write_scope(self, runtime, client, owner, version_id, data):
        upload = start(client, version_id, owner[1], data).json()
        stranger = create_user(runtime)
        other = {"Authorization": f"Bearer {create_api_key(runtime, stranger)}"}
        assert client.get(f"/api/uploads/{upload['id']}", headers=other).status_code == 404
        assert client.delete(f"/api/uploads/{upload['id']}", headers=other).status_code == 404
        assert start(client, version_id, other, data).status_code == 404
        read_only = {"Authorization": f"Bearer {create_api_key(runtime, owner[0], scopes=TokenScope.ModelsRead)}"}
        assert client.get(f"/api/uploads/{upload['id']}", headers=read_only).status_code == 403
        assert upload_row(runtime, upload["id"]).status == UploadStatus.Uploading


class TestRaces:
    def test_two_uploads_of_one_name_cannot_both_start(self, runtime, client, owner, version_id):
        _, headers = owner
        body = {"filename": "same.safetensors", "size": 6 * MIB}
        barrier = threading.Barrier(2)
        answers: list[int] = []

        def begin() -> None:
            barrier.wait()
            answers.append(
                client.post(f"/api/model-versions/{version_id}/uploads", json=body, headers=headers).status_code
            )

        threads = [threading.Thread(target=begin) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == [201, 409]

    def test_racing_uploads_of_different_files_both_land_with_one_primary(self, runtime, client, owner, version_id):
        _, headers = owner
        first, second = big_safetensors(6 * MIB), big_safetensors(6 * MIB)
        uploads = []
        for name, data in (("a.safetensors", first), ("b.safetensors", second)):
            upload = start(client, version_id, headers, data, filename=name).json()
            send_parts(client, upload, headers, data, [1, 2])
            uploads.append(upload)
        for upload in uploads:
            assert client.post(f"/api/uploads/{upload['id']}/complete", headers=headers).status_code == 202
        assert run_verification(runtime) == 2
        listed = client.get(f"/api/model-versions/{version_id}", headers=headers).json()["files"]
        assert sorted(f["name"] for f in listed) == ["a.safetensors", "b.safetensors"]
        assert sum(f["primary"] for f in listed) == 1

    def test_a_name_taken_by_a_file_is_refused(self, runtime, client, owner, version_id, data):
        _, headers = owner
        assert upload_whole(client, runtime, version_id, headers, data)["status"] == "Complete"
        again = start(client, version_id, headers, data)
        assert again.status_code == 409 and "already has a file named" in again.text


class TestHousekeeping:
    def test_the_version_lists_uploads_under_way(self, client, owner, version_id, data):
        _, headers = owner
        upload = start(client, version_id, headers, data).json()
        send_parts(client, upload, headers, data, [2])
        listed = client.get(f"/api/model-versions/{version_id}/uploads", headers=headers).json()
        assert [(u["id"], u["bytes_received"]) for u in listed] == [(upload["id"], PART)]

    def test_abandoned_uploads_are_aborted_and_their_parts_dropped(self, runtime, client, owner, version_id, data):
        _, headers = owner
        upload = start(client, version_id, headers, data).json()
        send_parts(client, upload, headers, data, [1])
        with runtime.db.transaction() as session:
            session.execute(
                update(FileUpload).values(updated_at=utcnow() - timedelta(days=8)).where(FileUpload.id == upload["id"])
            )
        with runtime.db.transaction() as session:
            tidy_uploads(session)
        row = upload_row(runtime, upload["id"])
        assert row.status == UploadStatus.Aborted and "Abandoned" in (row.error or "")
        with pytest.raises(Exception, match="not found"):
            runtime.storage.list_parts(row.storage_key, row.multipart_id)


class TestInterruptedParts:
    def test_a_part_cut_off_mid_body_leaves_nothing_and_is_sent_again(self, runtime, app, owner, version_id, data):
        """The connection drops halfway through a part: storage keeps no half part, the status says it is
        missing, and sending it again completes the upload."""
        _, headers = owner
        with live_server(app) as base, httpx.Client(base_url=base, headers=headers) as http:
            upload = http.post(
                f"/api/model-versions/{version_id}/uploads",
                json={"filename": "model.safetensors", "size": len(data), "part_size": PART},
            ).json()
            url = http.post(f"/api/uploads/{upload['id']}/part-urls", json={"parts": [1]}).json()["urls"][0]["url"]
            target = urlsplit(urljoin(base + "/", url))
            with socket.create_connection((target.hostname, target.port)) as raw:
                path = target.path + (f"?{target.query}" if target.query else "")
                head = f"PUT {path} HTTP/1.1\r\nHost: {target.netloc}\r\nContent-Length: {PART}\r\n\r\n"
                raw.sendall(head.encode() + data[: PART // 2])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the server notices the disconnect and drops what it had
                status = http.get(f"/api/uploads/{upload['id']}").json()
                if status["parts"] == [] and not leftovers(runtime, upload["id"]):
                    break
                time.sleep(0.05)
            assert status["parts"] == [] and status["bytes_received"] == 0
            assert not leftovers(runtime, upload["id"])
            for number in (1, 2, 3):
                item = http.post(f"/api/uploads/{upload['id']}/part-urls", json={"parts": [number]}).json()["urls"][0]
                chunk = data[(number - 1) * PART : number * PART]
                assert httpx.put(urljoin(base + "/", item["url"]), content=chunk).status_code == 200
            assert http.post(f"/api/uploads/{upload['id']}/complete").status_code == 202
        run_verification(runtime)
        assert upload_row(runtime, upload["id"]).status == UploadStatus.Complete
        assert runtime.storage.read_bytes(files_of(runtime, version_id)[0].storage_key) == data


def leftovers(runtime, upload_id: int) -> list[str]:
    """Temporary files a cut-off part left in the local multipart directory (none on S3: the server is not ours)."""
    if not isinstance(runtime.storage, LocalStorage):
        return []
    row = upload_row(runtime, upload_id)
    directory = runtime.storage.root / ".multipart" / row.multipart_id
    return [p.name for p in directory.iterdir() if p.name != "key"] if directory.exists() else []


class TestVerificationHoldsNoLock:
    def test_log_ins_and_other_writers_go_on_while_a_file_is_hashed(self, runtime, client, owner, version_id, data):
        """On SQLite the job's session holds the one write lock from its first statement: the verification must
        not open it before the hashing is done, or every writer waits (log-ins answered 503)."""
        user, headers = owner
        upload = start(client, version_id, headers, data).json()
        send_parts(client, upload, headers, data, [1, 2, 3])
        assert client.post(f"/api/uploads/{upload['id']}/complete", headers=headers).status_code == 202
        with paused_mid_read(runtime, upload_row(runtime, upload["id"]).storage_key, run_verification):
            with runtime.db.transaction() as session:  # a writer of its own while the file is being hashed
                session.execute(update(FileUpload).where(FileUpload.id == upload["id"]).values(updated_at=utcnow()))
            log_in(client, user)  # writes a session: answered 200, not 503 "database unreachable"
            assert upload_row(runtime, upload["id"]).status == UploadStatus.Verifying
        assert upload_row(runtime, upload["id"]).status == UploadStatus.Complete
        assert len(files_of(runtime, version_id)) == 1

    def test_a_version_deleted_while_hashing_gets_no_file(self, runtime, client, owner, version_id, data):
        """What was true when the verification began is checked again before the file is recorded."""
        _, headers = owner
        upload = start(client, version_id, headers, data).json()
        send_parts(client, upload, headers, data, [1, 2, 3])
        assert client.post(f"/api/uploads/{upload['id']}/complete", headers=headers).status_code == 202
        with (
            paused_mid_read(runtime, upload_row(runtime, upload["id"]).storage_key, run_verification),
            runtime.db.transaction() as session,
        ):
            session.execute(
                update(ModelVersion).where(ModelVersion.id == version_id).values(status=ModelStatus.Deleted)
            )
        row = upload_row(runtime, upload["id"])
        assert row.status == UploadStatus.Failed and "Deleted" in (row.error or "")
        assert files_of(runtime, version_id) == []
        assert not runtime.storage.exists(row.storage_key)


class TestStalledVerification:
    def test_a_verification_out_of_retries_fails_its_upload_and_keeps_nothing(
        self, runtime, client, owner, version_id, data
    ):
        _, headers = owner
        upload = start(client, version_id, headers, data).json()
        send_parts(client, upload, headers, data, [1, 2, 3])
        assert client.post(f"/api/uploads/{upload['id']}/complete", headers=headers).status_code == 202
        with runtime.db.transaction() as session:
            # The worker kept failing (storage down for hours): the job is dead, the upload hours old.
            session.execute(
                update(Job)
                .where(Job.name == "catalog.finish_upload")
                .values(status=JobStatus.dead, last_error="Traceback ...\nServiceUnavailable: storage: unreachable")
            )
            session.execute(update(FileUpload).values(updated_at=utcnow() - timedelta(hours=3)))
        with runtime.db.transaction() as session:
            tidy_uploads(session)
        row = upload_row(runtime, upload["id"])
        assert row.status == UploadStatus.Failed and row.active_name is None
        assert "storage: unreachable" in (row.error or "") and "upload it again" in (row.error or "")
        assert files_of(runtime, version_id) == []
        assert not list(runtime.storage.iter_keys(row.storage_key.rsplit("/", 1)[0]))

    def test_a_verification_still_queued_is_left_alone(self, runtime, client, owner, version_id, data):
        _, headers = owner
        upload = start(client, version_id, headers, data).json()
        send_parts(client, upload, headers, data, [1, 2, 3])
        client.post(f"/api/uploads/{upload['id']}/complete", headers=headers)
        with runtime.db.transaction() as session:
            session.execute(update(FileUpload).values(updated_at=utcnow() - timedelta(hours=3)))
        with runtime.db.transaction() as session:
            tidy_uploads(session)
        assert upload_row(runtime, upload["id"]).status == UploadStatus.Verifying
        assert run_verification(runtime) == 1  # one job, not a second one beside it
        assert upload_row(runtime, upload["id"]).status == UploadStatus.Complete
