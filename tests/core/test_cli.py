from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

from modelyard import __version__
from modelyard.cli import main
from modelyard.core.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from modelyard.core.migrate import alembic_config
    from modelyard.core.settings import Settings

    return str(ScriptDirectory.from_config(alembic_config(Settings())).get_current_head())


def run_cli(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelyard", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
    )


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_migrate_creates_a_fresh_sqlite_database(tmp_path: Path) -> None:
    env = {"MODELYARD_DATA_DIR": str(tmp_path), "MODELYARD_DATABASE_URL": ""}
    result = run_cli("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert f"database at {head_revision()}" in result.stdout
    tables = inspect(create_engine(f"sqlite:///{tmp_path / 'modelyard.sqlite3'}")).get_table_names()
    assert {"user", "job", "job_dead_letter", "alembic_version"} <= set(tables)
    assert run_cli("migrate", env=env).returncode == 0  # idempotent


def test_config_prints_masked_settings(tmp_path: Path) -> None:
    env = {
        "MODELYARD_DATA_DIR": str(tmp_path),
        "MODELYARD_S3_SECRET_ACCESS_KEY": "topsecret",
        "MODELYARD_DATABASE_URL": "postgresql+psycopg://me:pw123@db/x",
    }
    result = run_cli("config", env=env)
    assert result.returncode == 0, result.stderr
    assert "topsecret" not in result.stdout and "pw123" not in result.stdout
    assert "MODELYARD_S3_SECRET_ACCESS_KEY" in result.stdout


def test_invalid_setting_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("config", env={"MODELYARD_DATA_DIR": str(tmp_path), "MODELYARD_JOB_THREADS": "lots"})
    assert result.returncode != 0
    assert "invalid settings" in result.stderr and "job_threads" in result.stderr


def test_createsuperuser_makes_an_admin_and_refuses_a_duplicate(runtime: Runtime) -> None:
    from modelyard.accounts.models import Role
    from modelyard.accounts.service import get_by_username

    args = [
        "createsuperuser",
        "--username",
        "Chief",
        "--email",
        "chief@example.com",
        "--password",
        "correct horse",
    ]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    with runtime.db.session() as session:
        assert get_by_username(session, "chief").role == Role.admin
    again = run_cli(*[a.replace("chief@", "other@") for a in args])
    assert again.returncode != 0 and "taken" in again.stderr


@pytest.mark.parametrize("password", ["short"])
def test_createsuperuser_refuses_a_weak_password(runtime: Runtime, password: str) -> None:
    result = run_cli("createsuperuser", "--username", "x_admin", "--email", "x@example.com", "--password", password)
    assert result.returncode != 0 and "at least" in result.stderr


def test_jobs_dead_and_requeue(runtime: Runtime, tmp_path: Path) -> None:
    from modelyard.core.jobs import Job, JobStatus
    from tests.support.factories import create_dead_job

    job_id = create_dead_job(runtime, tmp_path)
    listing = run_cli("jobs", "dead")
    assert job_id in listing.stdout and "flag file" in listing.stdout
    assert run_cli("jobs", "requeue", job_id).returncode == 0
    with runtime.db.session() as session:
        assert session.get(Job, job_id).status == JobStatus.pending  # type: ignore[union-attr]
    second = run_cli("jobs", "requeue", job_id)
    assert second.returncode == 1 and "only dead jobs" in second.stderr


@pytest.mark.scaled_only
def test_machines_migrating_at_once_take_turns() -> None:
    """Several `modelyard serve` starting together against one PostgreSQL: an advisory lock serialises them."""
    from tests.support.services import PostgresDatabase

    database = PostgresDatabase.create()
    try:
        env = {**os.environ, "MODELYARD_DATABASE_URL": database.url}
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "modelyard", "migrate"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [run.communicate(timeout=120) for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], outputs
        assert all(f"database at {head_revision()}" in out for out, _ in outputs)
    finally:
        database.drop()
