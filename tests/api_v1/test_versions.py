"""Model versions in the v1 API: by id, by each of the six hashes in any case, in bulk, and the mini form."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import update

from modelyard.catalog.files.safetensors import tiny_lora
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.db import utcnow
from tests.api_v1.test_models import FILE_FIELDS, assert_fields, publish_posts
from tests.catalog.test_scanning import add
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user

VERSION_BODY: dict = {
    "id": int, "modelId": int, "name": str, "baseModel": str, "baseModelType": str, "nsfwLevel": int, "status": str,
    "publishedAt": str, "createdAt": str, "updatedAt": str, "trainedWords": list, "uploadType": str,
    "usageControl": str, "air": str, "stats": dict, "model": dict, "files": list, "images": list, "downloadUrl": str,
}  # fmt: skip


@pytest.fixture
def owner(runtime):
    return create_user(runtime, username="hashes")


def hashes_of(runtime, file_id: int) -> dict[str, str]:
    with runtime.db.session() as session:
        stored = session.get(ModelFile, file_id)
        assert stored is not None
        return {row.type.value: row.hash for row in stored.hashes}


def test_a_version_field_for_field(runtime, client, owner):
    made = create_model(runtime, owner, name="Ink Wash", published=True)
    publish_posts(runtime)
    response = client.get(f"/api/v1/model-versions/{made.version_ids[0]}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert_fields(body, VERSION_BODY, "version")
    assert body["air"] == f"urn:air:sd1:lora:civitai:{made.id}@{made.version_ids[0]}"
    assert body["model"] == {"name": "Ink Wash", "type": "LORA", "nsfw": False, "poi": False}
    (file,) = body["files"]
    assert_fields(file, FILE_FIELDS, "file")
    assert file["primary"] is True and file["metadata"]["format"] == "SafeTensor"
    assert body["images"] and "meta" in body["images"][0]
    assert client.get("/api/v1/model-versions/999999").json() == {"error": "Model not found"}
    assert client.get("/api/v1/model-versions/x").status_code == 400


def test_unpublished_versions_are_for_their_owner(runtime, client, owner):
    made = create_model(runtime, owner, with_post=False)
    assert client.get(f"/api/v1/model-versions/{made.version_ids[0]}").status_code == 404
    mine = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    assert client.get(f"/api/v1/model-versions/{made.version_ids[0]}", headers=mine).status_code == 200
    # by hash only ever finds published files
    sha256 = hashes_of(runtime, made.file_ids[0])["SHA256"]
    assert client.get(f"/api/v1/model-versions/by-hash/{sha256}", headers=mine).status_code == 404


def test_every_hash_type_in_any_case_finds_the_version(runtime, client, owner):
    made = create_model(runtime, owner, published=True, with_post=False)
    hashes = hashes_of(runtime, made.file_ids[0])
    assert set(hashes) == {"SHA256", "AutoV1", "AutoV2", "AutoV3", "CRC32", "BLAKE3"}
    assert hashes["AutoV1"] == "E3B0C442"  # a file of 1 MiB or less: nothing at 1 MiB, the same for all of them
    for kind, value in hashes.items():
        response = client.get(f"/api/v1/model-versions/by-hash/{value.lower()}")
        if kind == "AutoV1":  # names no file in particular, so it finds none
            assert response.status_code == 404, response.text
            continue
        assert response.status_code == 200, (kind, response.text)
        assert response.json()["id"] == made.version_ids[0]
    assert client.get("/api/v1/model-versions/by-hash/" + "0" * 64).json() == {"error": "Model not found"}
    assert client.get("/api/v1/model-versions/by-hash/not-hex").status_code == 400


def test_the_oldest_publication_wins_for_a_file_uploaded_twice(runtime, client, owner):
    data = tiny_lora(424242)
    # Created first (the lower ids), published last: publication order decides, not creation order.
    later = create_model(runtime, owner, name="Later", with_files=False, with_post=False)
    first = create_model(runtime, owner, name="First", with_files=False, with_post=False)
    add(runtime, owner, first.version_ids[0], "same.safetensors", data)
    add(runtime, owner, later.version_ids[0], "same.safetensors", data)
    with runtime.db.transaction() as session:
        session.execute(update(ModelVersion).values(status="Published", published_at=utcnow()))
        older = update(ModelVersion).where(ModelVersion.id == first.version_ids[0])
        session.execute(older.values(published_at=utcnow() - timedelta(days=30)))
        session.execute(update(Model).values(status="Published"))
    sha = hashlib.sha256(data).hexdigest()
    assert client.get(f"/api/v1/model-versions/by-hash/{sha}").json()["id"] == first.version_ids[0]


def test_bulk_lookups(runtime, client, owner):
    made = [create_model(runtime, owner, name=f"B{n}", published=True, with_post=False) for n in range(3)]
    sha = [hashes_of(runtime, m.file_ids[0])["SHA256"] for m in made]
    found = client.post("/api/v1/model-versions/by-hash", json=[sha[0].lower(), sha[2], "0" * 64])
    assert found.status_code == 200, found.text
    assert sorted(v["id"] for v in found.json()) == sorted([made[0].version_ids[0], made[2].version_ids[0]])
    ids = client.post("/api/v1/model-versions/by-hash/ids", json=sha).json()
    assert sorted((i["modelVersionId"], i["modelId"], i["hash"]) for i in ids) == sorted(
        (m.version_ids[0], m.id, h) for m, h in zip(made, sha, strict=True)
    )
    assert client.post("/api/v1/model-versions/by-hash", json=["A" * 64] * 101).status_code == 400
    assert client.post("/api/v1/model-versions/by-hash", json={"hash": sha[0]}).status_code == 400
    assert client.post("/api/v1/model-versions/by-hash/ids", json=[1, 2]).status_code == 400
    assert client.post("/api/v1/model-versions/by-hash/ids", json=["A" * 64] * 10_000).json() == []


def test_mini(runtime, client, owner):
    made = create_model(runtime, owner, name="Ink Wash", published=True, with_post=False)
    body = client.get(f"/api/v1/model-versions/mini/{made.version_ids[0]}").json()
    assert body["air"].endswith(f":{made.id}@{made.version_ids[0]}") and body["modelName"] == "Ink Wash"
    assert body["downloadUrls"] == [f"http://testserver/api/download/models/{made.version_ids[0]}"]
    assert body["hashes"]["SHA256"] == hashes_of(runtime, made.file_ids[0])["SHA256"]
    with runtime.db.transaction() as session:
        session.execute(update(ModelVersion).values(require_auth=True))
    assert client.get(f"/api/v1/model-versions/mini/{made.version_ids[0]}").json()["requireAuth"] is True
