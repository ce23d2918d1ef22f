"""Fresh, migrated databases for benchmarks: the embedded SQLite file always, PostgreSQL when it answers.

Each one lives in its own temporary data directory (and, on PostgreSQL, its own uniquely named database) and
is removed afterwards. `BENCH_DATABASES=sqlite` limits a run to SQLite; `BENCH_POSTGRES_ADMIN_URL` points at
a server other than the local one (default `postgresql://postgres@127.0.0.1:5432/postgres`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from modelyard.core.migrate import upgrade
from modelyard.core.settings import Settings

DEFAULT_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
KNOWN = ("sqlite", "postgresql")


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    settings: Settings
    env: dict[str, str]  # the MODELYARD_* variables a server process needs to use this database


def wanted() -> list[str]:
    names = [n.strip() for n in os.environ.get("BENCH_DATABASES", ",".join(KNOWN)).split(",") if n.strip()]
    unknown = set(names) - set(KNOWN)
    if unknown:
        raise ValueError(f"BENCH_DATABASES: unknown {sorted(unknown)}; known: {', '.join(KNOWN)}")
    return names


def runnable() -> tuple[list[str], list[dict[str, str]]]:
    """The wanted databases that can run here, and those skipped, each with the reason."""
    names: list[str] = []
    skipped: list[dict[str, str]] = []
    for name in wanted():
        reason = postgres_unavailable() if name == "postgresql" else None
        if reason:
            skipped.append({"case": name, "reason": reason})
        else:
            names.append(name)
    return names, skipped


def postgres_admin_url() -> str:
    return os.environ.get("BENCH_POSTGRES_ADMIN_URL", DEFAULT_POSTGRES_ADMIN_URL)


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be benchmarked here, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'modelyard[postgres]')"
    try:
        with psycopg.connect(postgres_admin_url(), connect_timeout=2):
            return None
    except psycopg.Error as exc:
        return f"no PostgreSQL at {postgres_admin_url()}: {str(exc).strip().splitlines()[0]}"


def server_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {
        "MODELYARD_DATA_DIR": str(data_dir),
        "MODELYARD_JOBS_IN_PROCESS": "false",
        "MODELYARD_LOG_LEVEL": "WARNING",
    }
    if database_url:
        env["MODELYARD_DATABASE_URL"] = database_url
    return env


@contextmanager
def fresh_database(name: str) -> Iterator[BenchDatabase]:
    """A migrated, empty database of kind `name` ("sqlite" or "postgresql"), dropped on exit."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"modelyard-bench-{name}-"))
    try:
        if name == "sqlite":
            yield _migrated(name, data_dir, None)
        else:
            with _postgres_database() as url:
                yield _migrated(name, data_dir, url)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _migrated(name: str, data_dir: Path, database_url: str | None) -> BenchDatabase:
    settings = Settings(data_dir=data_dir, database_url=database_url, jobs_in_process=False, log_level="WARNING")
    upgrade(settings)
    return BenchDatabase(name, settings, server_env(data_dir, database_url))


@contextmanager
def _postgres_database() -> Iterator[str]:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    database = f"modelyard_bench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = postgres_admin_url()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        url = make_url(admin).set(drivername="postgresql+psycopg", database=database)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            # FORCE: a server process killed mid-run may leave a connection behind.
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
