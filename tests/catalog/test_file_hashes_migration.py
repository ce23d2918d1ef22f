"""Migration 0009: files stored before AutoV1 was computed for every file get theirs, from the bytes their storage
holds at 1 MiB (nothing to read for a file of 1 MiB or less); a file whose object is gone is skipped."""

from __future__ import annotations

import hashlib
import importlib
import io
from typing import Any

from sqlalchemy import delete, select

from modelyard.accounts.models import User
from modelyard.catalog.enums import HashType
from modelyard.catalog.files import service as files
from modelyard.catalog.files.safetensors import encode
from modelyard.catalog.models import ModelFile, ModelFileHash, ModelVersion
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import create_user

migration: Any = importlib.import_module("modelyard.migrations.versions.0009_file_hashes")


def add(runtime: Runtime, owner: Any, version_id: int, name: str, data: bytes) -> int:
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        version = session.get(ModelVersion, version_id)
        assert user is not None and version is not None
        return files.add_file(session, user, version, filename=name, stream=io.BytesIO(data)).id


def autov1(runtime: Runtime) -> dict[int, str]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(ModelFileHash.file_id, ModelFileHash.hash).where(ModelFileHash.type == HashType.AutoV1)
        )
        return {file_id: value for file_id, value in rows}


def test_the_backfill_gives_every_file_its_autov1(runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_post=False)
    version_id = made.version_ids[0]
    tensor = bytes(range(256)) * (1536 * 1024 // 256)
    mid = encode({"weight": ("U8", [len(tensor)], tensor)})  # 1.5 MiB: has bytes at 1 MiB
    big = encode({"weight": ("U8", [3 * 1024 * 1024], bytes(3 * 1024 * 1024))})
    gone = encode({"weight": ("U8", [len(tensor)], tensor[::-1])})
    small_id = made.file_ids[0]
    mid_id = add(runtime, owner, version_id, "mid.safetensors", mid)
    big_id = add(runtime, owner, version_id, "big.safetensors", big)
    gone_id = add(runtime, owner, version_id, "gone.safetensors", gone)
    computed = autov1(runtime)  # as uploads compute it now
    with runtime.db.transaction() as session:  # as files stored before: no AutoV1 under 2 MiB
        session.execute(
            delete(ModelFileHash).where(
                ModelFileHash.type == HashType.AutoV1, ModelFileHash.file_id.in_([small_id, mid_id, gone_id])
            )
        )
        key = session.scalar(select(ModelFile.storage_key).where(ModelFile.id == gone_id))
    assert key is not None
    runtime.storage.delete(key)

    with runtime.db.engine.begin() as connection:
        added = migration.backfill(connection, lambda: runtime.storage.read_range)
    assert added == 2
    found = autov1(runtime)
    assert found[small_id] == "E3B0C442" == computed[small_id]
    assert found[mid_id] == hashlib.sha256(mid[0x100000:0x110000]).hexdigest().upper()[:8] == computed[mid_id]
    assert found[big_id] == computed[big_id]  # already had one: untouched
    assert gone_id not in found  # no bytes left to hash

    with runtime.db.engine.begin() as connection:
        assert migration.backfill(connection, lambda: runtime.storage.read_range) == 0  # nothing left to do


def test_small_files_need_no_storage(runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_post=False)
    with runtime.db.transaction() as session:
        session.execute(delete(ModelFileHash).where(ModelFileHash.type == HashType.AutoV1))

    def no_storage() -> Any:
        raise AssertionError("a file of 1 MiB or less has nothing to read")

    with runtime.db.engine.begin() as connection:
        assert migration.backfill(connection, no_storage) == 1
    assert autov1(runtime) == {made.file_ids[0]: "E3B0C442"}
