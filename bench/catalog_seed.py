"""Seeding the catalog benchmark's databases: users, models, versions, files, hashes and tags with explicit ids,
written in bulk (COPY on PostgreSQL, executemany on SQLite)."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from modelyard.catalog.enums import HashType, ModelStatus, ModelType
from modelyard.core.db import Base

SMALL, LARGE, QUICK_LARGE = 1_000, 100_000, 10_000
VERSIONS = 3
SMALL_OWNERS, MODELS_PER_OWNER = 20, 50
CHUNK = 20_000
TYPES = [ModelType.LORA] * 12 + [ModelType.Checkpoint] * 3 + [ModelType.TextualInversion] * 2
TYPES += [ModelType.VAE, ModelType.Controlnet, ModelType.LoCon]
BASE_MODELS = ("SD 1.5", "SDXL 1.0", "Pony", "Illustrious", "Flux.1 D")
DESCRIPTION = "A model for benchmarks. " * 12
S = ModelStatus
LATER_STATUSES = [S.Draft] * 4 + [S.Unpublished] * 2 + [S.Scheduled] * 2 + [S.Deleted] * 2  # models 90-99 of 100


def model_status(m: int) -> ModelStatus:
    return ModelStatus.Published if m % 100 < 90 else LATER_STATUSES[m % 100 - 90]


def is_public(m: int) -> bool:
    return model_status(m) == ModelStatus.Published and m % 200 != 13 and m % 50 != 7


class Seeder:
    """Writes users, models, versions, files, hashes and tags with explicit ids, in bulk."""

    def __init__(self, engine: Engine, now: datetime, large: int) -> None:
        self.engine, self.now, self.large = engine, now, large
        # The measured models take the top ids: a read that walks an index from its start to them (a merge
        # join) then costs what it would cost for the newest models of a big catalog.
        self.small_ids = range(large - SMALL + 1, large + 1)
        self.users = 0
        self.tables = Base.metadata.tables
        self.write("tag", [(t, f"tag {t}", 1, now) for t in range(1, 51)])

    def grow(self, models: range, *, owners: int) -> None:
        users = range(self.users + 1, self.users + 1 + owners)
        owner_of = {m: users[(m - models[0]) // MODELS_PER_OWNER % owners] for m in models}
        self.write("user", (self.user_row(u) for u in users))
        self.write("model", (self.model_row(m, owner_of[m]) for m in models))
        self.write("tag_on_model", ((m, t) for m in models for t in {m % 50 + 1, m * 7 % 50 + 1}))
        self.write("model_version", (self.version_row(m, k) for m in models for k in range(VERSIONS)))
        self.write("model_file", (self.file_row(m, k) for m in models for k in range(VERSIONS)))
        self.write("model_file_hash", (row for m in models for k in range(VERSIONS) for row in self.hash_rows(m, k)))
        self.users = users[-1]
        self.settle()

    def published_at(self, m: int) -> datetime:
        return self.now - timedelta(minutes=(self.large - m) * 5)

    def user_row(self, u: int) -> tuple[Any, ...]:
        return (u, f"owner{u}", f"owner{u}", f"owner{u}@bench.example", "user", [], self.now)

    def model_row(self, m: int, owner: int) -> tuple[Any, ...]:
        status, published = model_status(m), self.published_at(m)
        live = status in (ModelStatus.Published, ModelStatus.Unpublished, ModelStatus.Deleted)
        scheduled = self.now + timedelta(days=1 + m % 30) if status == ModelStatus.Scheduled else None
        if status == ModelStatus.Scheduled and m % 100 == 97 and m in self.small_ids:
            scheduled = self.now - timedelta(minutes=1)  # due, the job has not run yet: as many at any size
        availability = "Private" if m % 200 == 13 else "Unsearchable" if m % 50 == 7 else "Public"
        model_type = TYPES[m % len(TYPES)]
        return (
            m, owner, f"Model {m}", DESCRIPTION, f"<p>{DESCRIPTION}</p>", model_type.value, status.value,
            "Trained" if model_type == ModelType.Checkpoint else None, "Created", availability, False, 1,
            False, False, False, True, True, True, ["Sell"], {}, published if live else None, scheduled,
            published + timedelta(days=VERSIONS - 1) if live else None, published - timedelta(days=1),
            published + timedelta(days=VERSIONS),
            published + timedelta(days=9) if status == ModelStatus.Deleted else None,
        )  # fmt: skip

    def version_row(self, m: int, k: int) -> tuple[Any, ...]:
        status = model_status(m)
        if status == ModelStatus.Published and k == VERSIONS - 1 and m % 10 == 3:
            status = ModelStatus.Draft  # a new version not out yet
        published = self.published_at(m) + timedelta(days=k)
        out = status in (ModelStatus.Published, ModelStatus.Unpublished, ModelStatus.Deleted)
        scheduled = self.now + timedelta(days=1 + m % 30) if status == ModelStatus.Scheduled else None
        return (
            (m - 1) * VERSIONS + k + 1, m, VERSIONS - 1 - k, f"v{k + 1}", BASE_MODELS[m % len(BASE_MODELS)],
            "Standard", [f"token{m}"], False, "Created", "Download", "Public", 0, status.value,
            published if out else None, scheduled, {}, published - timedelta(hours=1), published,
        )  # fmt: skip

    def file_row(self, m: int, k: int) -> tuple[Any, ...]:
        v = (m - 1) * VERSIONS + k + 1
        return (
            v, v, f"model_{m}_v{k + 1}.safetensors", f"models/{m}/{v}/bench/model.safetensors", 144_000.0 + m % 997,
            "Model", {"format": "SafeTensor", "size": "pruned", "fp": "fp16"}, "Public", "Success", "Success", False,
            self.published_at(m),
        )  # fmt: skip

    def hash_rows(self, m: int, k: int) -> list[tuple[Any, ...]]:
        v = (m - 1) * VERSIONS + k + 1
        digest = sha256_of(v)
        return [(v, HashType.SHA256.value, digest, self.now), (v, HashType.AutoV2.value, digest[:10], self.now)]

    def write(self, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """COPY on PostgreSQL; executemany of a Core insert, in chunks, on SQLite."""
        columns = COLUMNS[table]
        if self.engine.dialect.name == "postgresql":
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                names = ", ".join(f'"{c}"' for c in columns)
                with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        copy.write_row([json.dumps(v) if isinstance(v, list | dict) else v for v in row])
                raw.commit()
            finally:
                raw.close()
            return
        insert, pending = self.tables[table].insert(), iter(rows)
        with self.engine.begin() as connection:
            while chunk := [dict(zip(columns, row, strict=True)) for row in itertools.islice(pending, CHUNK)]:
                connection.execute(insert, chunk)

    def settle(self) -> None:
        """What a database that grew slowly would look like: PostgreSQL vacuumed and analyzed (as autovacuum
        does), SQLite's write-ahead log checkpointed (a huge log slows every read's page lookup)."""
        if self.engine.dialect.name != "postgresql":
            raw = self.engine.raw_connection()  # autocommit: a checkpoint cannot run inside a transaction
            try:
                busy, _, _ = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                assert busy == 0, "the WAL checkpoint was blocked"
            finally:
                raw.close()
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in ("user", "tag", "model", "model_version", "model_file", "model_file_hash", "tag_on_model"):
                connection.execute(text(f'VACUUM ANALYZE "{table}"'))
                if "id" in COLUMNS[table]:  # explicit ids were written: move the sequence past them
                    sequence = f"pg_get_serial_sequence('\"{table}\"', 'id')"
                    connection.execute(text(f'SELECT setval({sequence}, (SELECT max(id) FROM "{table}"))'))


def sha256_of(file_id: int) -> str:
    return hashlib.sha256(f"bench file {file_id}".encode()).hexdigest().upper()


COLUMNS: dict[str, list[str]] = {
    "tag": ["id", "name", "nsfw_level", "created_at"],
    "user": ["id", "username", "username_key", "email", "role", "links", "created_at"],
    "tag_on_model": ["model_id", "tag_id"],
    "model_file_hash": ["file_id", "type", "hash", "created_at"],
    "model": [
        "id", "user_id", "name", "description", "description_html", "type", "status", "checkpoint_type",
        "upload_type", "availability", "nsfw", "nsfw_level", "poi", "minor", "sfw_only", "allow_no_credit",
        "allow_derivatives", "allow_different_license", "allow_commercial_use", "meta", "published_at",
        "scheduled_for", "last_version_at", "created_at", "updated_at", "deleted_at",
    ],
    "model_version": [
        "id", "model_id", "index", "name", "base_model", "base_model_type", "trained_words", "require_auth",
        "upload_type", "usage_control", "availability", "nsfw_level", "status", "published_at", "scheduled_for",
        "meta", "created_at", "updated_at",
    ],
    "model_file": [
        "id", "model_version_id", "name", "storage_key", "size_kb", "type", "metadata", "visibility",
        "pickle_scan_result", "virus_scan_result", "data_purged", "created_at",
    ],
}  # fmt: skip
