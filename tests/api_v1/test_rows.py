"""Rows read the cheap way (`api_v1.rows`) hold exactly what SQLAlchemy's own result processing gives: on
PostgreSQL they skip it, so a column whose type needs it would show here first."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import select, text
from starlette.datastructures import QueryParams

from modelyard.api_v1 import loading
from modelyard.api_v1.common import Params
from modelyard.api_v1.models import page_statement
from modelyard.api_v1.rows import plain, utc_naive
from modelyard.catalog.models import ModelFile, ModelVersion
from tests.api_v1.test_models import publish_posts
from tests.support.catalog import create_model
from tests.support.factories import create_user


@pytest.fixture
def owner(runtime):
    return create_user(runtime, username="rows")


@pytest.fixture
def made(runtime, owner):
    made = create_model(runtime, owner, name="Rows", published=True, tags=["ink"])
    publish_posts(runtime)
    return made


def test_every_loader_statement_reads_as_sqlalchemy_would(runtime, owner, made):
    with runtime.db.session() as session:
        run = loading._Runner(session)
        calls = {
            "versions": ([made.id], {}),
            "version bodies": ([made.id], {"versions": list(made.version_ids)}),
            "files": (made.version_ids, {}),
            "hashes": (made.file_ids, {}),
            "images": (made.version_ids, {"level": 63}),
            "creators": ([owner.id], {}),
            "tags": ([made.id], {}),
        }
        for name, (ids, extra) in calls.items():
            processed = [tuple(row) for row in run.execute(name, ids, **extra).all()]
            assert processed, f"{name}: nothing to compare"
            assert [tuple(row) for row in run(name, ids, **extra)] == processed, name


def test_a_page_of_models_reads_as_sqlalchemy_would(runtime, made):
    statement = page_statement(Params(QueryParams("sort=Newest")), None, "first")
    values = {"limit": 10, "since": None}
    with runtime.db.session() as session:
        connection = session.connection()
        processed = [tuple(row) for row in connection.execute(statement, values).all()]
        assert [row.id for row in plain(connection.execute(statement, values))] == [made.id]
        assert [tuple(row) for row in plain(connection.execute(statement, values))] == processed


def test_utc_naive_is_utc_whatever_the_sessions_time_zone(runtime, made):
    with runtime.db.session() as session:
        stored = session.get(ModelVersion, made.version_ids[0])
        assert stored is not None and stored.created_at.tzinfo is not None
        connection = session.connection()
        if runtime.db.dialect == "postgresql":
            connection.execute(text("SET LOCAL TIME ZONE 'America/New_York'"))
        statement = select(utc_naive(ModelVersion.created_at), utc_naive(ModelFile.replaced_at)).join(
            ModelFile, ModelFile.model_version_id == ModelVersion.id
        )
        created, replaced = plain(connection.execute(statement.where(ModelVersion.id == stored.id)))[0]
        assert created.tzinfo is None and created.replace(tzinfo=UTC) == stored.created_at
        assert replaced is None
