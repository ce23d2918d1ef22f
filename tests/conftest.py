"""Test fixtures. The suite runs twice (see scripts/test.sh):

- embedded (default): SQLite file, local storage, SQLite job queue, in-process cache and events;
- scaled (`MODELYARD_TEST_BACKEND=scaled`): a fresh PostgreSQL database, Redis under a unique key prefix and a
  real S3 server process, all created for this run and removed after it.

The settings go into `os.environ`, so processes a test starts (`modelyard worker`, `modelyard serve`) join the
same installation.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, text

from modelyard.catalog.lifecycle.effects import PUBLIC_CATALOG_TAG
from modelyard.core.bootstrap import build_runtime
from modelyard.core.db import Base
from modelyard.core.migrate import upgrade
from modelyard.core.runtime import Runtime, set_runtime
from modelyard.core.settings import Settings
from tests.support.factories import METRICS_TOKEN
from tests.support.services import REDIS_URL, PostgresDatabase, answers, delete_redis_keys

BACKEND = os.environ.get("MODELYARD_TEST_BACKEND", "embedded")
SCALED = BACKEND == "scaled"


def pytest_report_header(config: pytest.Config) -> str:
    return f"modelyard backend: {BACKEND}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SCALED:
        return
    skip = pytest.mark.skip(reason="runs in the scaled pass (PostgreSQL + Redis + S3)")
    for item in items:
        if "scaled_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def test_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("modelyard-data")
    env = {
        "MODELYARD_DATA_DIR": str(data_dir),
        "MODELYARD_JOBS_IN_PROCESS": "false",
        "MODELYARD_LOG_FORMAT": "console",
        "MODELYARD_JOB_BACKOFF_SECONDS": "0.2",
        "MODELYARD_JOB_REAPER_INTERVAL_SECONDS": "0.5",
        "MODELYARD_PUBLIC_BASE_URL": "http://testserver",
        "MODELYARD_EXTRA_MODULES": "tests.support.jobs_fixture",
        # The suite logs in hundreds of times from one address; the limit tests set their own, lower limits.
        "MODELYARD_RATE_LIMIT_IP_PER_MINUTE": "1000000",
        "MODELYARD_RATE_LIMIT_USER_PER_MINUTE": "1000000",
        "MODELYARD_RATE_LIMIT_API_KEY_PER_MINUTE": "1000000",
        "MODELYARD_LOGIN_ATTEMPTS_PER_IP_PER_MINUTE": "1000000",
        "MODELYARD_METRICS_TOKEN": METRICS_TOKEN,
    }
    cleanups = []
    if SCALED:
        if not (answers("127.0.0.1", 5432) and answers("127.0.0.1", 6379)):
            pytest.exit("scaled pass asked for, but PostgreSQL or Redis does not answer on 127.0.0.1", 2)
        from tests.support.s3server import start_s3_server

        database = PostgresDatabase.create()
        cleanups.append(database.drop)
        prefix = f"modelyard-test-{uuid.uuid4().hex[:10]}"
        cleanups.append(lambda: delete_redis_keys(REDIS_URL, f"{prefix}*", f"*{prefix}.jobs*"))
        s3 = start_s3_server(tmp_path_factory.mktemp("s3"))
        cleanups.append(s3.stop)
        env.update(
            {
                "MODELYARD_DATABASE_URL": database.url,
                "MODELYARD_REDIS_URL": REDIS_URL,
                "MODELYARD_REDIS_KEY_PREFIX": prefix,
                "MODELYARD_STORAGE_BACKEND": "s3",
                "MODELYARD_S3_ENDPOINT_URL": s3.endpoint_url,
                "MODELYARD_S3_BUCKET": s3.bucket,
                "MODELYARD_S3_ACCESS_KEY_ID": s3.access_key,
                "MODELYARD_S3_SECRET_ACCESS_KEY": s3.secret_key,
            }
        )
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for cleanup in reversed(cleanups):
            cleanup()


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str]) -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = build_runtime(settings)
    set_runtime(runtime)
    upgrade(settings, runtime.db.engine)
    from tests.support.jobs_fixture import ensure_effect_table

    ensure_effect_table()
    runtime.events.start()
    yield runtime
    runtime.close()
    set_runtime(None)


# Seeded by migrations and never written by tests: kept between tests.
REFERENCE_TABLES = frozenset({"base_model"})


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "runtime" not in request.fixturenames:
        return
    wipe(request.getfixturevalue("runtime"))


def wipe(runtime: Runtime) -> None:
    """Back to a migrated, empty installation: every table but the reference ones, the queue, caches, limits."""
    set_runtime(runtime)
    from modelyard.catalog.stats_buffer import buffered

    buffered(runtime).flush()  # events the app buffered (downloads) are written now, then emptied with the rest
    with runtime.db.transaction() as session:
        from tests.support.jobs_fixture import effect

        for table in [effect, *reversed(Base.metadata.sorted_tables)]:
            if table.name not in REFERENCE_TABLES:
                session.execute(delete(table))
        if runtime.db.dialect == "sqlite":  # the full-text table is the database's own, beside the mapped ones
            session.execute(text("DELETE FROM search_fts"))
    from modelyard.search.semantic import drop_process_caches

    drop_process_caches()
    runtime.queue.huey.flush()
    runtime.cache.local.clear()
    runtime.cache.invalidate(PUBLIC_CATALOG_TAG)  # the catalog was emptied: Redis may hold views of it
    from modelyard.core.ratelimit import rate_limiter

    rate_limiter(runtime).clear()


@pytest.fixture(scope="session")
def app(runtime: Runtime) -> FastAPI:
    from modelyard.app import create_app

    return create_app(runtime=runtime)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def data_dir(settings: Settings) -> Path:
    return settings.data_dir
