"""Alembic, configured in code so migrations ship inside the package and run on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from modelyard.core.db import make_engine
from modelyard.core.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings, engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.effective_database_url.replace("%", "%%"))
    config.attributes["engine"] = engine
    return config


def upgrade(settings: Settings, engine: Engine | None = None, revision: str = "head") -> None:
    with _engine(settings, engine) as usable:
        command.upgrade(alembic_config(settings, usable), revision)


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
