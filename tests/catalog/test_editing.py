"""Creating and editing models, versions and files: validation, sanitizing, hashes and the primary-file rule."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest

from modelyard.accounts.models import Role
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.files.hashing import hash_chunks
from modelyard.catalog.files.safetensors import tiny_lora
from modelyard.catalog.files.service import primary_file
from modelyard.catalog.models import Model, ModelFile
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user, log_in


@pytest.fixture
def owner(runtime):
    user = create_user(runtime)
    return user, {"Authorization": f"Bearer {create_api_key(runtime, user)}"}


def count_models(runtime) -> int:
    with runtime.db.session() as session:
        return session.query(Model).count()


class TestModels:
    def test_create_sanitizes_description_and_normalises_tags(self, client, owner):
        _, headers = owner
        body = {
            "name": "  Ink Style  ",
            "type": "LORA",
            "description": (
                "# Ink\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) **bold** <img src=x onerror=alert(1)>"
            ),
            "tags": ["Anime", "anime ", "Ink  Wash"],
            "allow_commercial_use": ["Image", "Rent"],
        }
        response = client.post("/api/models", json=body, headers=headers)
        assert response.status_code == 201, response.text
        model = response.json()
        assert model["name"] == "Ink Style" and model["status"] == "Draft"
        assert model["tags"] == ["anime", "ink wash"]
        html = model["description_html"]
        assert "<script" not in html and 'href="javascript' not in html and "onerror" not in html
        assert "<strong>bold</strong>" in model["description_html"]
        assert model["allow_commercial_use"] == ["Image", "Rent"]

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({"name": "x", "type": "Banana"}, 422),
            ({"name": "   ", "type": "LORA"}, 422),
            ({"name": "x", "type": "LORA", "tags": [f"t{i}" for i in range(21)]}, 422),
            ({"name": "x", "type": "LORA", "allow_commercial_use": ["None", "Sell"]}, 422),
            ({"name": "x", "type": "LORA", "poi": True}, 403),
            ({"name": "x", "type": "LORA", "unknown": 1}, 422),
        ],
    )
    def test_bad_input_is_refused_and_changes_nothing(self, runtime, client, owner, body, status):
        response = client.post("/api/models", json=body, headers=owner[1])
        assert response.status_code == status, response.text
        assert response.json()["detail"]
        assert count_models(runtime) == 0

    def test_checkpoint_type_only_on_checkpoints(self, client, owner):
        body = {"name": "x", "type": "LORA", "checkpoint_type": "Merge"}
        assert client.post("/api/models", json=body, headers=owner[1]).json()["checkpoint_type"] is None
        body["type"] = "Checkpoint"
        assert client.post("/api/models", json=body, headers=owner[1]).json()["checkpoint_type"] == "Merge"

    def test_a_read_only_key_cannot_write(self, runtime, client, owner):
        user, _ = owner
        key = create_api_key(runtime, user, scopes=TokenScope.ModelsRead)
        response = client.post(
            "/api/models", json={"name": "x", "type": "LORA"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 403 and "ModelsWrite" in response.json()["detail"]

    def test_muted_users_cannot_create(self, runtime, client, owner):
        user, headers = owner
        mod = create_user(runtime, role=Role.moderator)
        mod_key = {"Authorization": f"Bearer {create_api_key(runtime, mod)}"}
        assert (
            client.post(f"/api/admin/users/{user.id}/mute", json={"reason": "spam"}, headers=mod_key).status_code == 200
        )
        assert client.post("/api/models", json={"name": "x", "type": "LORA"}, headers=headers).status_code == 403

    def test_owners_archive_moderators_take_down(self, runtime, client, owner):
        user, headers = owner
        made = create_model(runtime, user, published=True)
        assert (
            client.patch(f"/api/models/{made.id}", json={"mode": "Archived"}, headers=headers).json()["mode"]
            == "Archived"
        )
        assert client.patch(f"/api/models/{made.id}", json={"mode": "TakenDown"}, headers=headers).status_code == 403

    def test_lifecycle_meta_cannot_be_overwritten_by_the_owner(self, runtime, client, owner):
        user, headers = owner
        made = create_model(runtime, user, published=True)
        client.post(f"/api/models/{made.id}/unpublish", json={}, headers=headers)
        response = client.patch(
            f"/api/models/{made.id}", json={"meta": {"unpublishedAt": None, "note": 1}}, headers=headers
        )
        meta = response.json()["meta"]
        assert meta["note"] == 1 and meta["unpublishedAt"] is not None

    @pytest.mark.parametrize("flag", ["poi", "minor"])
    def test_moderation_flags_are_the_moderators_to_set_and_to_clear(self, runtime, client, owner, flag):
        user, headers = owner
        made = create_model(runtime, user, published=True)
        mod = create_user(runtime, role=Role.moderator)
        mod_key = {"Authorization": f"Bearer {create_api_key(runtime, mod)}"}
        url = f"/api/models/{made.id}"
        assert client.patch(url, json={flag: True}, headers=headers).status_code == 403
        assert client.patch(url, json={flag: False}, headers=headers).status_code == 200  # unchanged: accepted
        assert client.patch(url, json={flag: True}, headers=mod_key).json()[flag] is True
        refused = client.patch(url, json={flag: False, "name": "Mine again"}, headers=headers)
        assert refused.status_code == 403, refused.text
        assert client.patch(url, json={flag: True}, headers=headers).status_code == 200  # unchanged: accepted
        model = client.get(url, headers=headers).json()
        assert model[flag] is True and model["name"] == "Test model"
        if flag == "poi":  # what the flag closed stays closed
            assert client.get(f"/api/download/models/{made.version_ids[0]}").status_code == 404
        assert client.patch(url, json={flag: False}, headers=mod_key).json()[flag] is False

    def test_the_edit_page_cannot_touch_the_moderation_flags(self, runtime, client, owner):
        user, _ = owner
        made = create_model(runtime, user, published=True)
        mod = create_user(runtime, role=Role.moderator)
        mod_key = {"Authorization": f"Bearer {create_api_key(runtime, mod)}"}
        client.patch(f"/api/models/{made.id}", json={"poi": True, "minor": True}, headers=mod_key)
        log_in(client, user)
        form = {"name": "Renamed", "type": "LORA", "poi": "", "minor": "off", "allow_commercial_use": "Sell"}
        response = client.post(f"/models/{made.id}/edit", data=form, follow_redirects=False)
        assert response.status_code == 303, response.text
        model = client.get(f"/api/models/{made.id}").json()
        assert model["name"] == "Renamed" and model["poi"] is True and model["minor"] is True


class TestVersions:
    def test_new_versions_come_first_and_names_are_unique(self, runtime, client, owner):
        user, headers = owner
        made = create_model(runtime, user)
        response = client.post(
            f"/api/models/{made.id}/versions", json={"name": "v2", "base_model": "SDXL 1.0"}, headers=headers
        )
        assert response.status_code == 201 and response.json()["index"] == 0
        again = client.post(
            f"/api/models/{made.id}/versions", json={"name": "V2", "base_model": "SDXL 1.0"}, headers=headers
        )
        assert again.status_code == 409
        unknown = client.post(
            f"/api/models/{made.id}/versions", json={"name": "v3", "base_model": "SD 9"}, headers=headers
        )
        assert unknown.status_code == 422 and "base model" in unknown.json()["detail"]
        names = [v["name"] for v in client.get(f"/api/models/{made.id}", headers=headers).json()["versions"]]
        assert names == ["v2", "v1"]

    def test_early_access_price_needs_a_window(self, runtime, client, owner):
        user, headers = owner
        made = create_model(runtime, user)
        response = client.patch(
            f"/api/model-versions/{made.version_ids[0]}", json={"early_access_price": 100}, headers=headers
        )
        assert response.status_code == 422

    def test_base_models_are_data_administrators_extend(self, runtime, client):
        admin = create_user(runtime, role=Role.admin)
        headers = {"Authorization": f"Bearer {create_api_key(runtime, admin)}"}
        assert "SDXL 1.0" in client.get("/api/base-models").json()
        response = client.post("/api/admin/base-models", json={"name": "Flux 9", "ecosystem": "flux9"}, headers=headers)
        assert response.status_code == 201 and "Flux 9" in response.json()
        assert (
            client.post(
                "/api/admin/base-models", json={"name": "Flux 9", "ecosystem": "x"}, headers=headers
            ).status_code
            == 409
        )


class TestFiles:
    def test_upload_hashes_in_one_pass(self, runtime, client, owner):
        user, headers = owner
        made = create_model(runtime, user, with_files=False)
        data = tiny_lora(99)
        response = client.post(
            f"/api/model-versions/{made.version_ids[0]}/files",
            files={"file": ("ink.safetensors", data)},
            data={"type": "Model", "fp": "fp16"},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        sha = hashlib.sha256(data).hexdigest().upper()
        (header_length,) = struct.unpack("<Q", data[:8])
        assert body["hashes"] == {
            "SHA256": sha,
            "AutoV1": hashlib.sha256(data[0x100000:0x110000]).hexdigest().upper()[:8],
            "AutoV2": sha[:10],
            "AutoV3": hashlib.sha256(data[8 + header_length :]).hexdigest().upper()[:12],
            "CRC32": struct.pack("<I", zlib.crc32(data)).hex().upper(),
            "BLAKE3": body["hashes"]["BLAKE3"],
        }  # AutoV1 too, for a file under 2 MiB (the SHA-256 of what it has at 1 MiB)
        # Read from the content: the form said fp16, the tensors are F32.
        assert body["metadata"] == {"format": "SafeTensor", "fp": "fp32"}
        assert body["primary"] is True and body["size_kb"] == pytest.approx(len(data) / 1024)
        with runtime.db.session() as session:
            stored = session.get(ModelFile, body["id"])
            assert runtime.storage.read_bytes(stored.storage_key) == data  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("form", "status"),
        [({"type": "Banana"}, 422), ({"fp": "fp64"}, 422), ({"format": "Zip"}, 422)],
    )
    def test_bad_file_metadata_changes_nothing(self, runtime, client, owner, form, status):
        user, headers = owner
        made = create_model(runtime, user, with_files=False)
        response = client.post(
            f"/api/model-versions/{made.version_ids[0]}/files",
            files={"file": ("a.bin", b"abc")},
            data=form,
            headers=headers,
        )
        assert response.status_code == status
        with runtime.db.session() as session:
            assert session.query(ModelFile).count() == 0

    def test_a_published_version_keeps_one_file(self, runtime, client, owner):
        user, headers = owner
        made = create_model(runtime, user, published=True)
        response = client.delete(f"/api/model-files/{made.file_ids[0]}", headers=headers)
        assert response.status_code == 409

    def test_deleting_needs_the_models_delete_scope(self, runtime, client, owner):
        """As for models and versions (Civitai's scopes: ModelsWrite writes, ModelsDelete deletes)."""
        user, headers = owner
        made = create_model(runtime, user, versions=2)
        writer = create_api_key(runtime, user, scopes=TokenScope.ModelsRead | TokenScope.ModelsWrite)
        file_id, version_id = made.file_ids[0], made.version_ids[1]
        response = client.delete(f"/api/model-files/{file_id}", headers={"Authorization": f"Bearer {writer}"})
        assert response.status_code == 403 and response.json()["missing_scopes"] == ["ModelsDelete"]
        assert client.post(f"/model-files/{file_id}/delete?token={writer}").status_code == 403
        assert client.post(f"/model-versions/{version_id}/delete?token={writer}").status_code == 403
        with runtime.db.session() as session:
            assert session.get(ModelFile, file_id) is not None
        model = client.get(f"/api/models/{made.id}", headers=headers).json()
        assert [version["id"] for version in model["versions"]] == [made.version_ids[1], made.version_ids[0]]
        assert [len(version["files"]) for version in model["versions"]] == [1, 1]
        assert client.delete(f"/api/model-files/{file_id}", headers=headers).status_code == 204


class TestHashing:
    def test_reference_vectors(self):
        digests, size = hash_chunks([b"hello ", b"world"])
        assert size == 11
        assert digests["CRC32"] == "85114A0D"  # Civitai scanner's test vector (little-endian bytes)
        assert digests["BLAKE3"].startswith("D74981EF") and digests["BLAKE3"].endswith("1A9E24")
        assert digests["AutoV1"] == "E3B0C442"

    def test_autov1_and_chunk_boundaries(self):
        data = bytes(range(256)) * (3 * 1024 * 1024 // 256)
        whole, _ = hash_chunks([data])
        assert whole["AutoV1"] == hashlib.sha256(data[0x100000:0x110000]).hexdigest().upper()[:8]
        stream = io.BytesIO(data)
        odd = iter(lambda: stream.read(7919), b"")  # a prime chunk size crosses every boundary
        assert hash_chunks(odd)[0] == whole


def test_primary_file_rule():
    def file(type_: str, **metadata: str) -> ModelFile:
        return ModelFile(name="f", type=type_, metadata_=metadata, size_kb=1, storage_key="k")

    pruned = file("Model", format="SafeTensor", size="pruned", fp="fp16")
    full = file("Model", format="SafeTensor", size="full", fp="fp32")
    pickle = file("Model", format="PickleTensor", size="pruned", fp="fp16")
    config = file("Config", format="Other")
    assert primary_file([config, full, pickle, pruned]) is pruned
    assert primary_file([config, pickle]) is pickle  # a model file beats any non-model file
    assert primary_file([pruned, full], {"size": "full", "fp": "fp32"}) is full
