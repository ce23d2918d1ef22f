"""AutoV1 for every file

AutoV1 (A1111's "model hash": the SHA-256 of the 64 KiB at offset 1 MiB, 8 hex) used to be left out for files
under 2 MiB. It is defined for every file (a file of 1 MiB or less has no bytes there: the SHA-256 of nothing,
E3B0C442) and Civitai always sends it, so strict clients require it. Files stored before get theirs: those of
1 MiB or less without reading anything, the others from the 64 KiB their storage holds at 1 MiB (a range read).
A file whose object is gone (purged, or lost) is skipped and named in the log; it has no bytes to hash.

Revision ID: 0009_file_hashes
Revises: 0008_images
Create Date: 2026-12-07 15:30:00.000000
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

import modelyard.core.db
from modelyard.core.errors import NotFound

revision: str = "0009_file_hashes"
down_revision: str | None = "0008_images"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("modelyard.migrations")
V1_START, V1_LENGTH = 0x100000, 0x10000
EMPTY_AUTOV1 = hashlib.sha256(b"").hexdigest().upper()[:8]  # E3B0C442
OLD_AUTOV1_MIN_SIZE = 0x200000  # the size from which AutoV1 was computed before

_hashes = sa.table(
    "model_file_hash",
    sa.column("file_id", sa.Integer),
    sa.column("type", sa.String),
    sa.column("hash", sa.String),
    sa.column("created_at", modelyard.core.db.UTCDateTime()),
)
_files = sa.table(
    "model_file",
    sa.column("id", sa.Integer),
    sa.column("storage_key", sa.String),
    sa.column("size_kb", sa.Float),
    sa.column("data_purged", sa.Boolean),
)

ReadRange = Callable[[str, int, int], bytes]


def _storage_reader() -> ReadRange:
    from modelyard.core.settings import Settings
    from modelyard.core.storage import make_storage

    return make_storage(Settings()).read_range


def backfill(connection: Connection, read_range: Callable[[], ReadRange] = _storage_reader) -> int:
    """Give every file without an AutoV1 its AutoV1; returns how many got one. `read_range` makes the storage
    reader, only when a file over 1 MiB needs its bytes."""
    has_v1 = sa.select(_hashes.c.file_id).where(_hashes.c.file_id == _files.c.id, _hashes.c.type == "AutoV1")
    missing = connection.execute(
        sa.select(_files.c.id, _files.c.storage_key, _files.c.size_kb, _files.c.data_purged)
        .where(~sa.exists(has_v1))
        .order_by(_files.c.id)
    ).all()
    reader: ReadRange | None = None
    rows = []
    for file_id, key, size_kb, purged in missing:
        if round(size_kb * 1024) <= V1_START:
            digest = EMPTY_AUTOV1
        elif purged:
            log.warning("AutoV1 not computed: the file's data was purged", extra={"file_id": file_id})
            continue
        else:
            reader = reader or read_range()
            try:
                data = reader(key, V1_START, V1_LENGTH)
            except NotFound:
                log.warning("AutoV1 not computed: the file's object is missing", extra={"file_id": file_id})
                continue
            digest = hashlib.sha256(data).hexdigest().upper()[:8]
        rows.append({"file_id": file_id, "type": "AutoV1", "hash": digest, "created_at": datetime.now(UTC)})
    for start in range(0, len(rows), 1000):
        connection.execute(_hashes.insert(), rows[start : start + 1000])
    return len(rows)


def upgrade() -> None:
    backfill(op.get_bind())


def downgrade() -> None:
    """Back to AutoV1 for files of 2 MiB and more only."""
    small = sa.select(_files.c.id).where(_files.c.size_kb * 1024 < OLD_AUTOV1_MIN_SIZE)
    op.execute(_hashes.delete().where(_hashes.c.type == "AutoV1", _hashes.c.file_id.in_(small)))
