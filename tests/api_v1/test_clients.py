"""Published Civitai clients, unchanged, against a real `modelyard serve`: civitapy given our base URL, and
civitdl, whose host is written into its code (`https://civitai.com`), pointed at us the way a hosts-file entry
would, at the transport, with every byte served by our server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from civitapy import CivitAIClient
from sqlalchemy import update

from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from modelyard.images.models import Post
from tests.search.test_listing_search import index_all
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user
from tests.support.processes import start_modelyard, stop, wait_http
from tests.support.services import free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("clients") / "serve.log"
    process = start_modelyard(["serve", "--port", str(port)], log, MODELYARD_PUBLIC_BASE_URL=url)
    try:
        wait_http(f"{url}/healthz")
        yield url
    finally:
        stop(process)


@pytest.fixture
def catalog(runtime: Runtime) -> dict[str, Any]:
    owner = create_user(runtime, username="inkmaker")
    made = create_model(runtime, owner, name="Ink Wash", published=True, tags=["ink"])
    with runtime.db.transaction() as session:
        session.execute(update(Post).values(published_at=utcnow()))
        # civitapy requires descriptions to be strings (Civitai's own null descriptions would break it too)
        session.execute(update(Model).values(description_html="<p>Ink wash.</p>"))
        session.execute(update(ModelVersion).values(description_html="<p>First.</p>"))
        stored = session.get(ModelFile, made.file_ids[0])
        assert stored is not None
        data = runtime.storage.read_bytes(stored.storage_key)
        hashes = {row.type.value: row.hash for row in stored.hashes}
    index_all(runtime)  # the server's search finds it at once
    return {"made": made, "data": data, "hashes": hashes, "key": create_api_key(runtime, owner)}


def test_civitapy_reads_searches_and_downloads(server: str, catalog: dict[str, Any], tmp_path: Path) -> None:
    made = catalog["made"]
    client = CivitAIClient(base_url=f"{server}/api/v1", download_dir=str(tmp_path), verify_hash=True)
    model = client.models_get(made.id)
    assert model["name"] == "Ink Wash" and model["modelVersions"][0]["id"] == made.version_ids[0]
    version = client.model_versions_get(made.version_ids[0])
    assert version["modelId"] == made.id
    by_hash = client.model_versions_by_hash(catalog["hashes"]["AutoV2"].lower())
    assert by_hash is not None and by_hash["id"] == made.version_ids[0]
    assert [r.model_version_id for r in client.model_versions_by_hash_ids([catalog["hashes"]["SHA256"]])] == [
        made.version_ids[0]
    ]
    found = client.models_list(query="ink", limit=10)
    assert [item["id"] for item in found["items"]] == [made.id]
    assert [t["name"] for t in client.tags_list()["items"]] == ["ink"]
    assert [c["username"] for c in client.creators_list()["items"]] == ["inkmaker"]
    assert "LORA" in client.enums()["ModelType"]
    (path,) = client.download_model_version(made.version_ids[0])  # checks the size and the SHA-256
    assert Path(path).read_bytes() == catalog["data"]
    assert Path(path).name == "Ink_Wash_v1.safetensors"  # a LoRA keeps its file's name
    me = CivitAIClient(base_url=f"{server}/api/v1", token=catalog["key"]).users_me()
    assert me["username"] == "inkmaker"


class _ToOurServer(requests.adapters.HTTPAdapter):
    """Sends what civitdl addresses to https://civitai.com to our server instead: the one change its hard-coded
    host allows."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        assert request.url is not None
        request.url = request.url.replace("https://civitai.com", self.base, 1)
        return super().send(request, **kwargs)


@pytest.mark.parametrize("how", ["model", "version", "download url"])
def test_civitdl_downloads_by_model_version_and_url(
    server: str, catalog: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from civitdl.batch.batch_download import batch_download  # type: ignore[import-untyped]
    from helpers.options import BatchOptions  # type: ignore[import-untyped]

    original_init = requests.Session.__init__

    def session_init(self: requests.Session) -> None:
        original_init(self)
        self.mount("https://civitai.com", _ToOurServer(server))

    monkeypatch.setattr(requests.Session, "__init__", session_init)
    made = catalog["made"]
    source = {
        "model": str(made.id),
        "version": f"https://civitai.com/models/{made.id}?modelVersionId={made.version_ids[0]}",
        "download url": f"https://civitai.com/api/download/models/{made.version_ids[0]}",
    }[how]
    options = BatchOptions(
        retry_count=0, pause_time=0.0, max_images=0, nsfw_mode="0", with_prompt=False, without_model=False,
        api_key=catalog["key"], verbose=False, sorter="basic", limit_rate=0, cache_mode="0", strict_mode="1",
        model_overwrite=False, with_color=False,
    )  # fmt: skip
    batch_download([source], str(tmp_path), options)
    downloaded = [p for p in tmp_path.rglob("*.safetensors")]
    assert len(downloaded) == 1, sorted(os.listdir(tmp_path))
    assert hashlib.sha256(downloaded[0].read_bytes()).hexdigest().upper() == catalog["hashes"]["SHA256"]
    assert downloaded[0].name.startswith("Ink_Wash_v1")  # named from Content-Disposition


def test_a_dummy_token_on_a_public_file_is_ignored(client, catalog: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    version_id = catalog["made"].version_ids[0]
    for query in ("?token=dummy", "?token=", "?token=None"):
        response = client.get(f"/api/download/models/{version_id}{query}", follow_redirects=False)
        assert response.status_code == 307, (query, response.text)
    bearer = client.get(
        f"/api/download/models/{version_id}", headers={"Authorization": "Bearer dummy"}, follow_redirects=False
    )
    assert bearer.status_code == 307
