"""Pooled PostgreSQL connections that the server dropped: one idle in the pool is pinged and replaced before
use, unseen; one used a moment ago is not pinged (no round trip on a busy pool), so its next use fails once and
the pool reconnects."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from modelyard.core import db as db_module
from modelyard.core.db import Database
from modelyard.core.settings import Settings

pytestmark = pytest.mark.scaled_only


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    one = Database(settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0}))
    yield one
    one.dispose()


def backend_pid(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(settings: Settings, pid: int) -> None:
    assert settings.database_url
    url = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)


def test_a_connection_dropped_while_idle_is_replaced_before_use(database, settings, monkeypatch):
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)  # every checkout counts as after a long idle
    first = backend_pid(database)
    terminate(settings, first)
    assert backend_pid(database) != first  # no error: the ping found it gone and the pool reconnected


def test_a_connection_used_a_moment_ago_is_not_pinged(database, settings, monkeypatch):
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 3600.0)
    first = backend_pid(database)
    terminate(settings, first)
    with pytest.raises(DBAPIError) as failed:
        backend_pid(database)
    assert failed.value.connection_invalidated
    assert backend_pid(database) != first
