"""Version answers (by id, by hash, in bulk) validated as a strict Civitai client validates them
(`tests.support.civitai_schema`): every file has all six hashes, AutoV1 of a small file included, and
`earlyAccessConfig` is always there, null when the version has no early access."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from sqlalchemy import update

from modelyard.accounts.models import User
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.files import service as files
from modelyard.catalog.files.safetensors import encode
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.civitai_schema import ModelVersion as StrictVersion
from tests.support.factories import create_user

EMPTY_AUTOV1 = hashlib.sha256(b"").hexdigest().upper()[:8]


@pytest.fixture
def owner(runtime: Runtime) -> Any:
    return create_user(runtime)


def answers(client: Any, version_id: int, sha256: str) -> list[dict[str, Any]]:
    """The same version by id, by hash, and in the bulk lookup."""
    by_id = client.get(f"/api/v1/model-versions/{version_id}")
    by_hash = client.get(f"/api/v1/model-versions/by-hash/{sha256}")
    bulk = client.post("/api/v1/model-versions/by-hash", json=[sha256])
    assert by_id.status_code == by_hash.status_code == bulk.status_code == 200, (by_id.text, by_hash.text)
    (in_bulk,) = bulk.json()
    return [by_id.json(), by_hash.json(), in_bulk]


def sha256_of(runtime: Runtime, file_id: int) -> str:
    with runtime.db.session() as session:
        stored = session.get(ModelFile, file_id)
        assert stored is not None
        return next(row.hash for row in stored.hashes if row.type.value == "SHA256")


def test_a_small_files_version_validates_with_autov1_and_a_null_early_access(client, runtime, owner):
    made = create_model(runtime, owner, published=True, with_post=False)
    for body in answers(client, made.version_ids[0], sha256_of(runtime, made.file_ids[0])):
        assert "earlyAccessConfig" in body and body["earlyAccessConfig"] is None
        version = StrictVersion.model_validate(body)
        assert version.files[0].hashes.AutoV1 == EMPTY_AUTOV1


def test_early_access_is_described_as_civitai_does(client, runtime, owner):
    made = create_model(runtime, owner, published=True, with_post=False)
    with runtime.db.transaction() as session:
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.id == made.version_ids[0])
            .values(early_access_days=5, early_access_price=500)
        )
    for body in answers(client, made.version_ids[0], sha256_of(runtime, made.file_ids[0])):
        config = StrictVersion.model_validate(body).earlyAccessConfig
        assert config is not None
        assert (config.timeframe, config.chargeForDownload, config.downloadPrice) == (5, True, 500)
        assert config.chargeForGeneration is False


def test_a_file_between_one_and_two_mib_has_its_own_autov1_and_is_found_by_it(client, runtime, owner):
    body = bytes(range(256)) * (1536 * 1024 // 256)  # 1.5 MiB of tensor data
    data = encode({"weight": ("U8", [len(body)], body)})
    made = create_model(runtime, owner, with_files=False, with_post=False)
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        version = session.get(ModelVersion, made.version_ids[0])
        assert user is not None and version is not None
        stored = files.add_file(session, user, version, filename="mid.safetensors", stream=io.BytesIO(data))
        file_id = stored.id
        autov1 = next(row.hash for row in stored.hashes if row.type.value == "AutoV1")
    assert autov1 == hashlib.sha256(data[0x100000:0x110000]).hexdigest().upper()[:8] != EMPTY_AUTOV1
    with runtime.db.transaction() as session:  # published as they are: the lookup reads statuses
        session.execute(update(ModelVersion).values(status=ModelStatus.Published, published_at=utcnow()))
        session.execute(update(Model).values(status=ModelStatus.Published, published_at=utcnow()))
    found = client.get(f"/api/v1/model-versions/by-hash/{autov1.lower()}")
    assert found.status_code == 200, found.text
    assert StrictVersion.model_validate(found.json()).files[0].id == file_id
    assert client.get(f"/api/v1/model-versions/by-hash/{EMPTY_AUTOV1}").status_code == 404  # names no file
