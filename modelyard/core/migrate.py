"""Alembic, configured in code so migrations ship inside the package and run on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from modelyard.core.db import make_engine
from modelyard.core.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


# Any constant works; it only has to be the same in every process of every version.
_MIGRATION_LOCK_ID = 0x6D6F64656C79


def alembic_config(settings: Settings, engine: Engine | None = None, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.effective_database_url.replace("%", "%%"))
    config.attributes["engine"] = engine
    config.attributes["connection"] = connection
    return config


def upgrade(settings: Settings, engine: Engine | None = None, revision: str = "head") -> None:
    """Apply migrations. On PostgreSQL an advisory lock serialises machines that start at the same time: the
    first migrates, the others wait and then find nothing to do. (SQLite's write lock does the same.)"""
    with _engine(settings, engine) as usable, usable.connect() as connection:
        locked = connection.dialect.name == "postgresql"
        if locked:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            connection.commit()
        try:
            command.upgrade(alembic_config(settings, usable, connection), revision)
        finally:
            if locked:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                connection.commit()


@contextmanager
def _engine(settings: Settings, engine: Engine | None) -> Iterator[Engine]:
    if engine is not None:
        yield engine
        return
    # The same engine set-up as the app (SQLite pragmas, data directory created).
    own = make_engine(settings)
    try:
        yield own
    finally:
        own.dispose()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def make_revision(settings: Settings, message: str) -> None:
    """Autogenerate a new migration from the models (a development command)."""
    with _engine(settings, None) as engine:
        command.revision(alembic_config(settings, engine), message=message, autogenerate=True)
