from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from modelyard.core.db import Base
from modelyard.core.runtime import Runtime


def test_migrations_match_the_models(runtime: Runtime) -> None:
    """Run on both databases: a model change without its migration fails here."""
    with runtime.db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            d
            for d in compare_metadata(context, Base.metadata)
            if not (d[0] == "remove_table" and d[1].name == "test_job_effect") and not _native_search_index(d)
        ]
    assert differences == []


def _native_search_index(difference: Any) -> bool:
    """The database's own full-text structures, created by the search migration beside the mapped tables: the
    FTS5 tables (and their shadow tables) on SQLite, the `tsv` column and its indexes and the facet lines' array
    index on PostgreSQL."""
    kind, target = difference[0], difference[1]
    if kind == "remove_table":
        return bool(target.name.startswith("search_fts"))
    if kind == "remove_index":
        return bool(target.name.startswith("ix_search_fts_"))
    if kind == "remove_column":
        return bool(difference[2] == "search_document" and difference[3].name == "tsv")
    return False


def test_sqlite_runs_with_wal_and_foreign_keys(runtime: Runtime) -> None:
    if runtime.db.dialect != "sqlite":
        pytest.skip("SQLite pragmas: checked in the embedded pass")
    with runtime.db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == runtime.settings.sqlite_busy_timeout_ms
