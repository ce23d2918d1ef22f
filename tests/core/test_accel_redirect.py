"""Signed `/files` downloads handed to a real nginx with X-Accel-Redirect: the app checks the link, nginx sends the
bytes (Range included), and the storage location cannot be reached from outside."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from modelyard.core.settings import Settings
from modelyard.core.storage.local import LocalStorage
from tests.core.test_storage import files_app
from tests.support.live_server import live_server
from tests.support.nginx import NginxProcess, start_nginx

PREFIX = "/_protected/"
KEY = "models/1/2/My model é.safetensors"
DATA = os.urandom(300_000)


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> LocalStorage:
    root = tmp_path_factory.mktemp("accel") / "files"
    store = LocalStorage(root, secret="s", base_url="http://unused", default_ttl=600, accel_redirect_prefix=PREFIX)
    store.save(KEY, DATA)
    return store


@pytest.fixture(scope="module")
def nginx(storage: LocalStorage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxProcess]:
    with live_server(files_app(storage), lifespan="off") as app_url:
        directory = tmp_path_factory.mktemp("nginx")
        started = start_nginx(directory, upstream=app_url, protected_prefix=PREFIX, storage_dir=storage.root)
        yield started
        started.stop()


def signed_path(storage: LocalStorage, **options: str) -> str:
    url = urlsplit(storage.download_url(KEY, **options))  # type: ignore[arg-type]
    return f"{url.path}?{url.query}"


def test_the_app_answers_with_an_empty_body_and_the_protected_location(storage):
    with TestClient(files_app(storage)) as client:
        response = client.get(signed_path(storage, filename="model.safetensors"))
    assert response.status_code == 200 and response.content == b""
    assert response.headers["x-accel-redirect"] == PREFIX + quote(KEY)
    assert 'filename="model.safetensors"' in response.headers["content-disposition"]
    assert response.headers["etag"] and response.headers["cache-control"].startswith("private, max-age=")


def test_nginx_serves_a_range_with_the_attachment_name(storage, nginx):
    path = signed_path(storage, filename="Süß model.safetensors")
    response = httpx.get(nginx.base_url + path, headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206, response.text
    assert response.content == DATA[1000:2000]
    assert response.headers["content-range"] == f"bytes 1000-1999/{len(DATA)}"
    assert "filename*=UTF-8''S%C3%BC%C3%9F%20model.safetensors" in response.headers["content-disposition"]
    assert "x-accel-redirect" not in response.headers
    whole = httpx.get(nginx.base_url + path)
    assert whole.status_code == 200 and whole.content == DATA


def test_if_range_resumes_only_the_same_file(storage, nginx):
    # nginx answers with its own ETag (mtime and size) in place of the app's; resuming compares against it.
    url = nginx.base_url + signed_path(storage)
    etag = httpx.head(url).headers["etag"]
    assert httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}).status_code == 206
    stale = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": '"an-older-file"'})
    assert stale.status_code == 200 and stale.content == DATA


def test_head_through_nginx_gives_the_size_without_a_body(storage, nginx):
    response = httpx.head(nginx.base_url + signed_path(storage))
    assert response.status_code == 200 and response.headers["content-length"] == str(len(DATA))


def test_a_bad_signature_is_still_refused(storage, nginx):
    path = signed_path(storage).replace("sig=", "sig=x")
    response = httpx.get(nginx.base_url + path)
    assert response.status_code == 403 and "x-accel-redirect" not in response.headers
    assert response.content != DATA


def test_the_protected_location_is_not_reachable_from_outside(nginx):
    response = httpx.get(nginx.base_url + PREFIX + quote(KEY))
    assert response.status_code == 404 and response.content != DATA


@pytest.mark.parametrize("prefix", ["_protected/", "/_protected", "/a b/"])
def test_a_bad_prefix_is_refused(prefix):
    with pytest.raises(ValueError, match="X-Accel-Redirect prefix"):
        Settings(accel_redirect_prefix=prefix)


def test_without_nginx_the_app_sends_the_bytes(tmp_path: Path):
    store = LocalStorage(tmp_path, secret="s", base_url="http://unused", default_ttl=600)
    store.save(KEY, DATA)
    with TestClient(files_app(store)) as client:
        response = client.get(signed_path(store))
    assert response.content == DATA and "x-accel-redirect" not in response.headers


def test_without_nginx_ranges_across_read_chunks_are_exact(tmp_path: Path):
    store = LocalStorage(tmp_path, secret="s", base_url="http://unused", default_ttl=600)
    store.save(KEY, DATA)
    with TestClient(files_app(store)) as client:
        path = signed_path(store)
        across = client.get(path, headers={"Range": "bytes=262100-262200"})  # the app reads 256 KiB at a time
        tail = client.get(path, headers={"Range": f"bytes=-{len(DATA) - 262000}"})
    assert across.status_code == 206 and across.content == DATA[262100:262201]
    assert tail.status_code == 206 and tail.content == DATA[262000:]
