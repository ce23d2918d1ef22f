"""Without `MODELYARD_PUBLIC_BASE_URL`, absolute URLs are built on the address each request came to, against a
real `modelyard serve`: `downloadUrl` works on whatever host and port a client used, the cached hash lookup never
hands one host's URLs to a client of another, and X-Forwarded-Host/Proto count only from a trusted proxy."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelyard.catalog.models import ModelFile
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import create_user
from tests.support.processes import start_modelyard, stop, wait_http
from tests.support.services import free_port

PROXIED = {"X-Forwarded-Host": "models.example.org", "X-Forwarded-Proto": "https"}


def serve(tmp_path_factory: pytest.TempPathFactory, trusted: str) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MODELYARD_PUBLIC_BASE_URL")  # unset: the address each request came to
        process = start_modelyard(["serve", "--port", str(port)], log, MODELYARD_FORWARDED_ALLOW_IPS=trusted)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose trusted proxy is 127.0.0.1, the address the tests connect from."""
    yield from serve(tmp_path_factory, "127.0.0.1")


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that trusts only proxies the tests are not: their X-Forwarded-* must count for nothing."""
    yield from serve(tmp_path_factory, "192.0.2.1, 198.51.100.0/24")


@pytest.fixture
def published(runtime: Runtime) -> dict[str, Any]:
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True, with_post=False)
    with runtime.db.transaction() as session:
        stored = session.get(ModelFile, made.file_ids[0])
        assert stored is not None
        data = runtime.storage.read_bytes(stored.storage_key)
        sha256 = next(row.hash for row in stored.hashes if row.type.value == "SHA256")
    return {"version_id": made.version_ids[0], "data": data, "sha256": sha256}


def version(server: str, version_id: int, **headers: str) -> dict[str, Any]:
    response = httpx.get(f"{server}/api/v1/model-versions/{version_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_download_urls_follow_the_host_the_client_used(
    behind_proxy: str, published: dict[str, Any], runtime: Runtime
) -> None:
    port = behind_proxy.rsplit(":", 1)[1]
    version_id = published["version_id"]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"modelyard.lan:{port}"):
        body = version(behind_proxy, version_id, Host=host)
        assert body["downloadUrl"] == f"http://{host}/api/download/models/{version_id}"
        assert body["files"][0]["downloadUrl"].startswith(f"http://{host}/api/download/models/")
    # Followed from where the client is, it gives the file (a local file's signed URL is on that address too).
    body = version(behind_proxy, version_id)
    downloaded = httpx.get(body["downloadUrl"], follow_redirects=True)
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest().upper() == published["sha256"]
    redirect = httpx.get(body["downloadUrl"], headers={"Host": f"localhost:{port}"})
    assert redirect.status_code == 307
    location = redirect.headers["location"]
    if runtime.settings.storage_backend == "local":  # the app's own signed file URL: on the client's address too
        assert location.startswith(f"http://localhost:{port}/files/"), location
    else:  # a presigned URL of the bucket, whatever the address
        assert f":{port}/" not in location, location


def test_a_cached_lookup_is_not_served_to_another_host(behind_proxy: str, published: dict[str, Any]) -> None:
    port = behind_proxy.rsplit(":", 1)[1]
    url = f"{behind_proxy}/api/v1/model-versions/by-hash/{published['sha256']}"
    for _ in range(2):  # the second round is answered from the cache
        for host in (f"127.0.0.1:{port}", f"other.lan:{port}"):
            body = httpx.get(url, headers={"Host": host}).json()
            assert body["downloadUrl"].startswith(f"http://{host}/"), (host, body["downloadUrl"])
        proxied = httpx.get(url, headers=PROXIED).json()
        assert proxied["downloadUrl"].startswith("https://models.example.org/")


def test_a_trusted_proxy_says_what_the_client_asked_for(behind_proxy: str, published: dict[str, Any]) -> None:
    version_id = published["version_id"]
    body = version(behind_proxy, version_id, **PROXIED)
    assert body["downloadUrl"] == f"https://models.example.org/api/download/models/{version_id}"
    page = httpx.get(f"{behind_proxy}/api/v1/models?limit=1", headers=PROXIED).json()
    if "nextPage" in page["metadata"]:
        assert page["metadata"]["nextPage"].startswith("https://models.example.org/api/v1/models?")


def test_an_untrusted_peers_forwarded_headers_count_for_nothing(exposed: str, published: dict[str, Any]) -> None:
    version_id = published["version_id"]
    body = version(exposed, version_id, **PROXIED)
    assert body["downloadUrl"] == f"{exposed}/api/download/models/{version_id}"
    lookup = httpx.get(f"{exposed}/api/v1/model-versions/by-hash/{published['sha256']}", headers=PROXIED).json()
    assert lookup["downloadUrl"].startswith(f"{exposed}/")


def test_a_configured_public_url_wins(client: Any, published: dict[str, Any]) -> None:
    """The suite's own app has MODELYARD_PUBLIC_BASE_URL=http://testserver: whatever the Host, that is the base."""
    body = client.get(f"/api/v1/model-versions/{published['version_id']}", headers={"Host": "elsewhere:1"}).json()
    assert body["downloadUrl"].startswith("http://testserver/")
