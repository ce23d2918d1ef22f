"""Rows read the cheap way (`api_v1.rows`) hold exactly what SQLAlchemy's own execution gives: on PostgreSQL
they skip its result processing, and a `Query` skips its execution too, so a column whose type needs either, or
a value bound differently, would show here first."""

from __future__ import annotations

from datetime import UTC

import psycopg
import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import QueryParams

from modelyard.api_v1 import loading
from modelyard.api_v1.common import Params
from modelyard.api_v1.models import page_statement
from modelyard.api_v1.rows import Query, plain, utc_naive
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.db import utcnow
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
            "version bodies": ([made.id], {"versions": set(made.version_ids)}),
            "files": (made.version_ids, {}),
            "hashes": (made.file_ids, {}),
            "images": (made.version_ids, {"level": 63}),
            "creators": ([owner.id], {}),
            "tags": ([made.id], {}),
            "ecosystems": ((), {"names": ["SD 1.5"]}),
        }
        for name, (ids, extra) in calls.items():
            query = loading._statement(name, run.dialect)
            assert query.direct(run.connection.dialect) is not None or run.dialect != "postgresql", name
            processed = [tuple(row) for row in run.connection.execute(query.statement, run.values(ids, extra))]
            assert processed, f"{name}: nothing to compare"
            rows = run(name, ids, **extra)
            assert [tuple(row) for row in rows] == processed, name
            assert rows[0]._fields == tuple(run.connection.execute(query.statement, run.values(ids, extra)).keys())


@pytest.mark.parametrize(
    "question",
    [
        "sort=Newest",
        "sort=Oldest&period=Week&types=Checkpoint,LORA",  # a fixed list, a time bound through its type's processing
        "ids={id},999999&allowCommercialUse=Sell&nsfw=true",
        "tag=ink&baseModels=SD%201.5",  # (a `query` is the search's: `tests/search/test_v1_query.py`)
    ],
)
def test_a_page_of_models_reads_as_sqlalchemy_would(runtime, made, question):
    params = Params(QueryParams(question.format(id=made.id)))
    first = page_statement(params, None, "first")
    after = page_statement(params, None, "after")
    values = {"limit": 10, "since": utcnow().replace(year=2000) if "period" in question else None}
    # A cursor just past the far end of the sort, so that the page after it holds the model too.
    far = {"Newest": utcnow().replace(year=2100), "Oldest": utcnow().replace(year=1990)}
    after_value = next((value for sort, value in far.items() if sort in question), 10**6)
    with runtime.db.session() as session:
        connection = session.connection()
        if runtime.db.dialect == "postgresql":
            assert first.direct(connection.dialect) is not None and after.direct(connection.dialect) is not None
        for query, extra in ((first, {}), (after, {"after_value": after_value, "after_id": 10**6})):
            processed = [tuple(row) for row in connection.execute(query.statement, {**values, **extra}).all()]
            assert [tuple(row) for row in query.rows(connection, {**values, **extra})] == processed
            assert [row[0] for row in processed] == [made.id], question


def test_a_list_given_at_execution_goes_through_sqlalchemy(runtime, made):
    """Its SQL depends on the list's length: nothing to compile once."""
    query = Query(select(Model.id).where(Model.id.in_(bindparam("ids", expanding=True))))
    with runtime.db.session() as session:
        connection = session.connection()
        assert query.direct(connection.dialect) is None
        assert [row.id for row in query.rows(connection, {"ids": [made.id, 0]})] == [made.id]


def test_a_query_runs_in_the_sessions_transaction(runtime, made):
    query = Query(select(Model.status).where(Model.id == bindparam("id")))
    with runtime.db.session(write=True) as session:
        session.execute(Model.__table__.update().where(Model.id == made.id).values(status=ModelStatus.Unpublished))
        assert query.tuples(session.connection(), {"id": made.id}) == [("Unpublished",)]  # sees the uncommitted
        session.rollback()
    with runtime.db.engine.connect() as connection:  # begun by the query itself
        assert query.tuples(connection, {"id": made.id}) == [("Published",)]
        assert connection.in_transaction()


@pytest.mark.scaled_only
def test_a_dropped_connection_fails_as_sqlalchemy_says_and_is_replaced(runtime, settings, made):
    query = Query(select(Model.id).where(Model.id == bindparam("id")))
    with runtime.db.engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        connection.commit()
        assert settings.database_url
        with psycopg.connect(settings.database_url.replace("postgresql+psycopg://", "postgresql://")) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(DBAPIError) as failed:
            query.rows(connection, {"id": made.id})
        assert failed.value.connection_invalidated  # the app's handler answers 503; the pool drops the connection
    with runtime.db.engine.connect() as connection:
        assert [row.id for row in query.rows(connection, {"id": made.id})] == [made.id]


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
