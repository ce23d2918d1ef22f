"""Storage: the same scenarios against the local directory backend and a real S3 server (rclone)."""

from __future__ import annotations

import hashlib
import random
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelyard.core.errors import BadRequest, NotFound, ServiceUnavailable
from modelyard.core.http import install_error_handlers
from modelyard.core.storage import Storage, validate_key
from modelyard.core.storage.local import LocalStorage
from modelyard.core.storage.routes import router
from modelyard.core.storage.s3 import S3Storage
from tests.support.s3server import S3Server, start_s3_server

BASE_URL = "http://files.test"
MIB = 1024 * 1024
# Traversal, hidden names and malformed paths; then characters no key may hold, and a key over 1024 bytes.
UNSAFE_KEYS = ["../x", "a/../b", "/abs", "a//b", "a/", "", ".hidden/a"]
UNSAFE_KEYS += ["a\\b", "a\x00b", "tab\there", "x\x7f", "é" * 600]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()


def s3_storage(server: S3Server, bucket: str, *, create_bucket: bool = True) -> S3Storage:
    return S3Storage(
        bucket=bucket,
        endpoint_url=server.endpoint_url,
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
        create_bucket=create_bucket,
    )


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files", secret="test-secret", base_url=BASE_URL, default_ttl=600)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    if request.param == "local":
        return request.getfixturevalue("local")
    # A bucket per test, so listings only see what the test wrote.
    return s3_storage(request.getfixturevalue("s3_server"), f"test-{uuid.uuid4().hex[:16]}")


def files_app(storage: Storage) -> FastAPI:
    app = FastAPI()
    app.state.runtime = SimpleNamespace(storage=storage)
    install_error_handlers(app)
    app.include_router(router, prefix="/files")
    return app


@pytest.fixture
def http(storage: Storage) -> Iterator[httpx.Client]:
    """Fetches the URLs the storage hands out: the app's `/files` routes, or the S3 server itself."""
    client = TestClient(files_app(storage), base_url=BASE_URL) if storage.name == "local" else httpx.Client()
    with client:
        yield client


class ChunkedReader:
    """A non-seekable reader that makes `size` bytes on the fly, optionally failing after `fail_after`."""

    def __init__(self, size: int, *, fail_after: int | None = None) -> None:
        self.size = size
        self.position = 0
        self.fail_after = fail_after
        self.digest = hashlib.sha256()

    def read(self, limit: int = -1) -> bytes:
        if self.fail_after is not None and self.position >= self.fail_after:
            raise OSError("the upload connection dropped")
        chunk = random.randbytes(min(self.size - self.position, 256 * 1024 if limit < 0 else limit))
        self.position += len(chunk)
        self.digest.update(chunk)
        return chunk


def test_save_open_stat_delete_round_trip(storage: Storage) -> None:
    saved = storage.save("models/1/weights.bin", b"hello weights", content_type="application/octet-stream")

    assert (saved.key, saved.size) == ("models/1/weights.bin", 13)
    assert storage.stat("models/1/weights.bin") == saved
    assert storage.exists("models/1/weights.bin")
    with storage.open("models/1/weights.bin") as reader:
        assert reader.read() == b"hello weights"
    storage.delete("models/1/weights.bin")
    assert storage.stat("models/1/weights.bin") is None
    assert not storage.exists("models/1/weights.bin")
    with pytest.raises(NotFound):
        storage.open("models/1/weights.bin")
    storage.delete("models/1/weights.bin")  # deleting a missing file is fine


def test_saving_again_replaces_the_object(storage: Storage) -> None:
    first = storage.save("a.txt", b"first")
    second = storage.save("a.txt", b"second version")

    assert storage.read_bytes("a.txt") == b"second version"
    assert second.etag != first.etag


def test_save_streams_a_20_mb_file_object(storage: Storage) -> None:
    reader = ChunkedReader(20 * MIB)

    saved = storage.save("big/model.safetensors", reader)  # type: ignore[arg-type]

    assert saved.size == 20 * MIB
    digest = hashlib.sha256()
    with storage.open("big/model.safetensors") as stored:
        while chunk := stored.read(MIB):
            digest.update(chunk)
    assert digest.hexdigest() == reader.digest.hexdigest()


def test_save_that_fails_half_way_leaves_nothing_behind(storage: Storage) -> None:
    reader = ChunkedReader(20 * MIB, fail_after=12 * MIB)

    with pytest.raises(OSError, match="connection dropped"):
        storage.save("big/broken.bin", reader)  # type: ignore[arg-type]

    assert storage.stat("big/broken.bin") is None
    assert list(storage.iter_keys("")) == []


def test_failed_save_keeps_the_previous_object(storage: Storage) -> None:
    storage.save("kept.bin", b"old content")

    with pytest.raises(OSError):
        storage.save("kept.bin", ChunkedReader(2 * MIB, fail_after=MIB))  # type: ignore[arg-type]

    assert storage.read_bytes("kept.bin") == b"old content"


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(BadRequest):
        storage.save(key, b"x")
    with pytest.raises(BadRequest):
        storage.stat(key)
    with pytest.raises(BadRequest):
        validate_key(key)


def test_move_puts_the_object_under_its_new_key_and_its_old_urls_stop_working(
    storage: Storage, http: httpx.Client
) -> None:
    storage.save("models/3/a/weights.bin", b"weights", content_type="application/octet-stream")
    old_url = storage.download_url("models/3/a/weights.bin", filename="weights.bin")
    assert http.get(old_url).status_code == 200

    storage.move("models/3/a/weights.bin", "withdrawn/models/3/a/weights.bin")

    gone = http.get(old_url)
    assert gone.status_code == 404 and gone.content != b"weights"
    assert storage.read_bytes("withdrawn/models/3/a/weights.bin") == b"weights"
    assert list(storage.iter_keys("")) == ["withdrawn/models/3/a/weights.bin"]  # no empty folders left either
    assert http.get(storage.download_url("withdrawn/models/3/a/weights.bin")).content == b"weights"
    storage.move("models/3/a/weights.bin", "withdrawn/models/3/a/weights.bin")  # again: moved already, fine
    storage.move("withdrawn/models/3/a/weights.bin", "models/3/a/weights.bin")  # and back
    assert http.get(old_url).content == b"weights"
    with pytest.raises(NotFound):
        storage.move("models/3/none.bin", "withdrawn/models/3/none.bin")
    with pytest.raises(BadRequest):
        storage.move("models/3/a/weights.bin", "../escape.bin")


def test_iter_keys_lists_a_prefix_in_key_order(storage: Storage) -> None:
    for key in ["m/b.txt", "m/a/z.txt", "m-c.txt", "m/a/y.txt", "other.txt"]:
        storage.save(key, b"x")

    assert list(storage.iter_keys("m/")) == ["m/a/y.txt", "m/a/z.txt", "m/b.txt"]
    assert list(storage.iter_keys("m")) == ["m-c.txt", "m/a/y.txt", "m/a/z.txt", "m/b.txt"]
    assert list(storage.iter_keys("m/a/z")) == ["m/a/z.txt"]


def test_download_url_serves_the_file_as_a_named_attachment(storage: Storage, http: httpx.Client) -> None:
    storage.save("models/7/file.bin", b"model bytes")

    response = http.get(storage.download_url("models/7/file.bin", filename="modèle v1.safetensors"))

    assert response.status_code == 200
    assert response.content == b"model bytes"
    assert "filename*=UTF-8''mod%C3%A8le%20v1.safetensors" in response.headers["content-disposition"]
    assert response.headers["content-disposition"].startswith("attachment")


def test_expired_download_url_is_refused(storage: Storage, http: httpx.Client) -> None:
    storage.save("doc.txt", b"secret")
    url = storage.download_url("doc.txt", expires_in=1)

    time.sleep(2.1)
    response = http.get(url)

    # rclone answers an expired presigned URL with 400 AccessDenied where AWS answers 403.
    assert response.status_code == (403 if storage.name == "local" else 400), response.text
    assert b"secret" not in response.content


def test_download_url_cannot_be_edited_to_fetch_another_file(storage: Storage, http: httpx.Client) -> None:
    storage.save("doc.txt", b"public")
    storage.save("dod.txt", b"private")
    url = storage.download_url("doc.txt")

    response = http.get(url.replace("doc.txt", "dod.txt"))

    assert response.status_code == 403
    assert b"private" not in response.content


def test_range_request_returns_the_requested_bytes(storage: Storage, http: httpx.Client) -> None:
    storage.save("range.bin", bytes(range(100)))

    response = http.get(storage.download_url("range.bin"), headers={"Range": "bytes=10-19"})

    assert response.content == bytes(range(10, 20))
    assert response.headers["content-range"] == "bytes 10-19/100"
    # rclone's S3 server (gofakes3 before its PR #121) answers 200 with the partial body; AWS answers 206.
    assert response.status_code == 206 or (storage.name == "s3" and response.status_code == 200)


def test_range_past_the_end_is_not_satisfiable(storage: Storage, http: httpx.Client) -> None:
    storage.save("range.bin", bytes(range(100)))

    response = http.get(storage.download_url("range.bin"), headers={"Range": "bytes=100-"})

    assert response.status_code == 416


def test_upload_url_accepts_a_put(storage: Storage, http: httpx.Client) -> None:
    url = storage.upload_url("uploads/new.png", size=9, content_type="image/png")

    response = http.put(url, content=b"\x89PNG fake", headers={"Content-Type": "image/png"})

    assert response.status_code == 200, response.text
    assert storage.read_bytes("uploads/new.png") == b"\x89PNG fake"
    assert response.headers["etag"].strip('"') == storage.stat("uploads/new.png").etag  # type: ignore[union-attr]


def test_upload_url_refuses_another_content_type(storage: Storage, http: httpx.Client) -> None:
    url = storage.upload_url("uploads/new.png", size=8, content_type="image/png")

    response = http.put(url, content=b"<script>", headers={"Content-Type": "text/html"})

    assert response.status_code == 403
    assert storage.stat("uploads/new.png") is None


def refused_length(storage: Storage, response: httpx.Response, *, longer: bool) -> None:
    """Our `/files` route says which way the length was wrong; S3 signs Content-Length, so any other length
    fails the signature (403)."""
    if storage.name == "local":
        assert response.status_code == (413 if longer else 400), response.text
        assert "exactly" in response.json()["detail"]
    else:
        assert response.status_code == 403, response.text


@pytest.mark.parametrize("sent", [11, 9, 0])
def test_upload_url_takes_exactly_its_size(storage: Storage, http: httpx.Client, sent: int) -> None:
    url = storage.upload_url("uploads/sized.bin", size=10)

    response = http.put(url, content=b"x" * sent)

    refused_length(storage, response, longer=sent > 10)
    assert storage.stat("uploads/sized.bin") is None
    assert http.put(url, content=b"y" * 10).status_code == 200
    assert storage.read_bytes("uploads/sized.bin") == b"y" * 10


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent chunked: no Content-Length for the server to check up front."""
    for start in range(0, total, size):
        yield b"z" * min(size, total - start)


@pytest.mark.parametrize(("sent", "chunked"), [(50 * MIB, True), (50 * MIB, False), (99, True), (99, False)])
def test_part_url_takes_exactly_its_size_and_keeps_nothing_else(
    storage: Storage, http: httpx.Client, sent: int, chunked: bool
) -> None:
    upload_id = storage.create_multipart("m.bin")
    url = storage.part_upload_url("m.bin", upload_id, 1, size=100)

    response = http.put(url, content=chunks(sent) if chunked else b"z" * sent)

    refused_length(storage, response, longer=sent > 100)
    assert storage.list_parts("m.bin", upload_id) == []
    if isinstance(storage, LocalStorage):  # not even a temporary file of the refused body
        assert sorted(p.name for p in (storage.root / ".multipart" / upload_id).iterdir()) == ["key"]
    assert http.put(url, content=b"z" * 100).status_code == 200
    assert [size for _, _, size in storage.list_parts("m.bin", upload_id)] == [100]


def test_upload_urls_need_a_size_within_one_put(storage: Storage) -> None:
    upload_id = storage.create_multipart("m.bin")
    for size in (-1, 5 * 1024 * MIB + 1):
        with pytest.raises(BadRequest):
            storage.upload_url("a.bin", size=size)
        with pytest.raises(BadRequest):
            storage.part_upload_url("m.bin", upload_id, 1, size=size)


def test_local_upload_link_without_a_size_is_refused(local: LocalStorage) -> None:
    from modelyard.core.storage.local import SignedRequest

    unsized = local._signed_url(SignedRequest("PUT", "a.bin", int(time.time()) + 60))  # as links were made before

    with TestClient(files_app(local), base_url=BASE_URL) as client:
        response = client.put(unsized, content=b"x" * 10)

    assert response.status_code == 403 and "ask for a new one" in response.text
    assert local.stat("a.bin") is None


def part_bytes(number: int, size: int) -> bytes:
    return bytes([number]) * size


def test_multipart_upload_joins_parts_in_order(storage: Storage, http: httpx.Client) -> None:
    key = "models/9/huge.safetensors"
    upload_id = storage.create_multipart(key)
    sizes = {1: 5 * MIB, 2: 5 * MIB, 3: 5 * MIB, 4: 1234}
    etags = {
        number: storage.upload_part(key, upload_id, number, part_bytes(number, sizes[number])) for number in (4, 1, 2)
    }
    response = http.put(
        storage.part_upload_url(key, upload_id, 3, size=5 * MIB),
        content=iter([part_bytes(3, MIB)] * 5),  # streamed in chunks
        headers={"Content-Length": str(5 * MIB)},  # S3 refuses a PUT without a length (411)
    )
    assert response.status_code == 200, response.text
    etags[3] = response.headers["etag"].strip('"')

    assert storage.list_parts(key, upload_id) == [(n, etags[n], sizes[n]) for n in (1, 2, 3, 4)]
    stored = storage.complete_multipart(key, upload_id, [(n, etags[n]) for n in (1, 2, 3, 4)])

    assert stored.size == sum(sizes.values())
    expected = b"".join(part_bytes(n, sizes[n]) for n in (1, 2, 3, 4))
    assert hashlib.sha256(storage.read_bytes(key)).digest() == hashlib.sha256(expected).digest()


def test_completing_with_a_missing_part_is_refused(storage: Storage) -> None:
    upload_id = storage.create_multipart("m.bin")
    first = storage.upload_part("m.bin", upload_id, 1, part_bytes(1, 5 * MIB))
    third = storage.upload_part("m.bin", upload_id, 3, b"tail")

    with pytest.raises(BadRequest):
        storage.complete_multipart("m.bin", upload_id, [(1, first), (2, third)])

    assert storage.stat("m.bin") is None


def test_completing_with_a_mismatched_etag_is_refused(storage: Storage) -> None:
    upload_id = storage.create_multipart("m.bin")
    storage.upload_part("m.bin", upload_id, 1, part_bytes(1, 5 * MIB))
    second = storage.upload_part("m.bin", upload_id, 2, b"tail")

    with pytest.raises(BadRequest):
        storage.complete_multipart("m.bin", upload_id, [(1, second), (2, second)])

    assert storage.stat("m.bin") is None


def test_local_part_uploaded_again_invalidates_its_old_etag(local: LocalStorage) -> None:
    # Not on rclone: it streams parts to disk as they arrive and refuses to replace one (501).
    upload_id = local.create_multipart("m.bin")
    stale = local.upload_part("m.bin", upload_id, 1, part_bytes(1, 5 * MIB))
    fresh = local.upload_part("m.bin", upload_id, 1, part_bytes(7, 5 * MIB))

    with pytest.raises(BadRequest):
        local.complete_multipart("m.bin", upload_id, [(1, stale)])
    assert local.complete_multipart("m.bin", upload_id, [(1, fresh)]).size == 5 * MIB
    assert local.read_bytes("m.bin") == part_bytes(7, 5 * MIB)


def test_completing_with_parts_out_of_order_is_refused(storage: Storage) -> None:
    upload_id = storage.create_multipart("m.bin")

    with pytest.raises(BadRequest):
        storage.complete_multipart("m.bin", upload_id, [(2, "x"), (1, "y")])
    with pytest.raises(BadRequest):
        storage.complete_multipart("m.bin", upload_id, [])


def test_abort_removes_the_upload_and_its_parts(storage: Storage) -> None:
    upload_id = storage.create_multipart("m.bin")
    storage.upload_part("m.bin", upload_id, 1, b"part")

    storage.abort_multipart("m.bin", upload_id)

    with pytest.raises(NotFound):
        storage.list_parts("m.bin", upload_id)
    with pytest.raises(NotFound):
        storage.upload_part("m.bin", upload_id, 2, b"late part")
    assert list(storage.iter_keys("")) == []
    storage.abort_multipart("m.bin", upload_id)  # aborting twice is fine


def test_upload_id_belongs_to_its_key(storage: Storage) -> None:
    upload_id = storage.create_multipart("mine.bin")

    with pytest.raises(NotFound):
        storage.upload_part("other.bin", upload_id, 1, b"x")


def test_check_passes_on_a_usable_storage(storage: Storage) -> None:
    storage.check()


def test_check_reports_an_unreachable_s3_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound but never listening: connections to it are refused
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
        dead = S3Storage(bucket="modelyard", endpoint_url=endpoint, access_key_id="k", secret_access_key="s")

        with pytest.raises(ServiceUnavailable, match="storage: cannot reach"):
            dead.check()
        with pytest.raises(ServiceUnavailable):
            dead.save("a.txt", b"x")


def test_check_reports_a_missing_bucket(s3_server: S3Server) -> None:
    storage = s3_storage(s3_server, "no-such-bucket", create_bucket=False)

    with pytest.raises(ServiceUnavailable, match="does not exist"):
        storage.check()


def test_check_reports_an_unwritable_local_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(ServiceUnavailable, match="storage: "):
        LocalStorage(blocker / "files", secret="s", base_url=BASE_URL, default_ttl=600).check()


def test_local_download_sends_caching_and_validator_headers(local: LocalStorage) -> None:
    stored = local.save("doc.txt", b"hello")

    with TestClient(files_app(local), base_url=BASE_URL) as client:
        response = client.head(local.download_url("doc.txt", expires_in=300))

    assert response.status_code == 200
    assert response.headers["content-length"] == "5"
    assert response.headers["etag"] == f'"{stored.etag}"'
    assert "last-modified" in response.headers
    max_age = int(response.headers["cache-control"].removeprefix("private, max-age="))
    assert 295 <= max_age <= 300


def test_local_signed_url_is_bound_to_its_method(local: LocalStorage) -> None:
    local.save("doc.txt", b"hello")

    with TestClient(files_app(local), base_url=BASE_URL) as client:
        response = client.put(local.download_url("doc.txt"), content=b"overwritten")

    assert response.status_code == 403
    assert local.read_bytes("doc.txt") == b"hello"


def test_files_routes_serve_nothing_when_storage_is_not_local() -> None:
    app = files_app(SimpleNamespace(name="s3"))  # type: ignore[arg-type]

    with TestClient(app, base_url=BASE_URL) as client:
        response = client.get("/files/doc.txt?expires=1&sig=x")

    assert response.status_code == 404
