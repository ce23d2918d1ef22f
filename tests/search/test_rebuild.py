"""`modelyard search rebuild` rewrites an index from the database without taking it down; the reconciler repairs
what drifted behind the indexer's back; `modelyard search status` tells where the indexes stand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, func, select, update

from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.models import Model
from modelyard.cli import main
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime, set_runtime
from modelyard.search import rebuild as rebuild_module
from modelyard.search import store
from modelyard.search.models import SearchDocument
from modelyard.search.reconcile import reconcile_index
from tests.support.catalog import create_model
from tests.support.factories import create_user


@pytest.fixture
def cli(runtime: Runtime) -> Iterator[CliRunner]:
    yield CliRunner()
    set_runtime(runtime)  # the command made a runtime of its own and made it current


def invoke(cli: CliRunner, runtime: Runtime, *args: str) -> Result:
    result = cli.invoke(main, ["search", *args])
    set_runtime(runtime)
    return result


def docs(runtime: Runtime, index: str) -> dict[int, tuple[str, int]]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(SearchDocument.entity_id, SearchDocument.name, SearchDocument.generation).where(
                SearchDocument.index == index
            )
        )
        return {entity_id: (name, generation) for entity_id, name, generation in rows}


def test_rebuild_writes_every_index_from_the_database(runtime: Runtime, cli: CliRunner) -> None:
    owner = create_user(runtime)
    first = create_model(runtime, owner, name="First", published=True, tags=["ink"])
    second = create_model(runtime, owner, name="Second", published=True)
    create_model(runtime, owner, name="Draft")

    result = invoke(cli, runtime, "rebuild")

    assert result.exit_code == 0, result.output
    assert "models: 2 documents" in result.output
    assert set(docs(runtime, "models")) == {first.id, second.id}
    assert set(docs(runtime, "images")) == {*first.image_ids, *second.image_ids}
    assert set(docs(runtime, "users")) == {owner.id}
    assert {name for name, _ in docs(runtime, "tags").values()} == {"ink", "test"}
    status = invoke(cli, runtime, "status")
    assert status.exit_code == 0, status.output
    models_line = next(line for line in status.output.splitlines() if line.startswith("models"))
    assert models_line.split()[1] == "2"


def test_a_rebuild_keeps_the_old_documents_answering_until_it_is_done(runtime: Runtime, cli: CliRunner) -> None:
    owner = create_user(runtime)
    kept = create_model(runtime, owner, name="Kept", published=True)
    gone = create_model(runtime, owner, name="Gone", published=True)
    assert invoke(cli, runtime, "rebuild", "--index", "models").exit_code == 0
    before = docs(runtime, "models")
    with runtime.db.transaction() as session:  # behind the outbox's back
        session.execute(update(Model).where(Model.id == gone.id).values(status=ModelStatus.Unpublished))
    seen_midway: list[dict[int, tuple[str, int]]] = []

    done = rebuild_module.rebuild(
        runtime, "models", batch=1, progress=lambda _written: seen_midway.append(docs(runtime, "models"))
    )

    assert seen_midway and all(gone.id in midway for midway in seen_midway)  # old documents answered meanwhile
    after = docs(runtime, "models")
    assert set(after) == {kept.id} and after[kept.id][1] == before[kept.id][1] + 1 == done.generation
    assert done.removed == 1


def test_rebuild_of_an_unknown_index_is_refused(runtime: Runtime, cli: CliRunner) -> None:
    result = invoke(cli, runtime, "rebuild", "--index", "nope")
    assert result.exit_code == 2 and "nope" in result.output


def test_the_reconciler_repairs_missing_stale_and_extra_documents(runtime: Runtime, cli: CliRunner) -> None:
    owner = create_user(runtime)
    missing = create_model(runtime, owner, name="Missing", published=True)
    stale = create_model(runtime, owner, name="Stale", published=True)
    extra = create_model(runtime, owner, name="Extra", published=True)
    untouched = create_model(runtime, owner, name="Untouched", published=True)
    assert invoke(cli, runtime, "rebuild", "--index", "models").exit_code == 0
    with runtime.db.transaction() as session:
        store.delete(session, "models", [missing.id])  # a document lost behind the indexer's back
        session.execute(update(Model).where(Model.id == stale.id).values(name="Renamed", updated_at=utcnow()))
        session.execute(update(Model).where(Model.id == extra.id).values(status=ModelStatus.Deleted))

    drift = reconcile_index(runtime, "models", batch=2)

    assert (drift.missing, drift.stale, drift.extra) == (1, 1, 1)
    after = docs(runtime, "models")
    assert set(after) == {missing.id, stale.id, untouched.id}
    assert after[stale.id][0] == "Renamed"
    assert reconcile_index(runtime, "models").total == 0  # nothing left to repair


def test_the_reconciler_writes_embeddings_that_are_missing(runtime: Runtime, cli: CliRunner) -> None:
    from modelyard.search.models import SearchEmbedding

    owner = create_user(runtime)
    create_model(runtime, owner, name="Watercolour landscapes", published=True)
    assert invoke(cli, runtime, "rebuild", "--index", "models").exit_code == 0
    with runtime.db.transaction() as session:
        session.execute(delete(SearchEmbedding).where(SearchEmbedding.index == "models"))

    drift = reconcile_index(runtime, "models")

    assert drift.embeddings == 1
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SearchEmbedding)) == 1
