"""Freshness: what a transaction queues in the search outbox is searchable (or gone) within a second of its commit,
through the real app; the applier coalesces, isolates a failing entity, and several appliers share the work."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from modelyard.accounts.models import Role, User
from modelyard.catalog import service as catalog_service
from modelyard.catalog.enums import ModelModifier, ModelStatus, UnpublishKind
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model, Tag
from modelyard.catalog.schemas import ModelUpdate
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from modelyard.images import moderate
from modelyard.images import tags as image_tags
from modelyard.images.models import BlockedFor, Image
from modelyard.search import indexer, outbox, service, sources, store
from modelyard.search.models import SearchDocument, SearchEmbedding, SearchIndexUpdate
from modelyard.search.sources import base as sources_base
from modelyard.search.types import Document, SearchQuery
from tests.images.test_editing import make_post
from tests.support.catalog import create_model
from tests.support.factories import create_user, log_in

FRESH_WITHIN = 1.0


def documents(runtime: Runtime, index: str) -> set[int]:
    with runtime.db.session() as session:
        return set(session.scalars(select(SearchDocument.entity_id).where(SearchDocument.index == index)))


def pending(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(SearchIndexUpdate).where(SearchIndexUpdate.processed_at.is_(None))
            )
            or 0
        )


def apply_all(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session:
        while indexer.apply_pending(session):
            pass


def is_found(runtime: Runtime, model_id: int) -> bool:
    """Whether an anonymous visitor's search finds the model (through the service every page and API asks)."""
    with runtime.db.session() as session:
        page = service.search(session, None, SearchQuery(index="models", text="quillfeather", mode="keyword"))
    return model_id in [hit.entity_id for hit in page.hits]


def is_gone(runtime: Runtime, model_id: int) -> bool:
    return not is_found(runtime, model_id)


def seconds_until(condition: Callable[[], bool], *, limit: float = 5.0) -> float:
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > limit:
            break
        time.sleep(0.005)
    return time.perf_counter() - started


def test_publish_is_searchable_and_unpublish_gone_within_a_second(runtime: Runtime, client: TestClient) -> None:
    owner = create_user(runtime)
    log_in(client, owner)
    models = [create_model(runtime, owner, name=f"Quillfeather {n}") for n in range(3)]
    for model in models:
        published = client.post(f"/api/models/{model.id}/publish", json={})
        assert published.status_code == 200, published.text
        appeared = seconds_until(partial(is_found, runtime, model.id))
        assert appeared < FRESH_WITHIN

        unpublished = client.post(f"/api/models/{model.id}/unpublish", json={})
        assert unpublished.status_code == 200, unpublished.text
        left = seconds_until(partial(is_gone, runtime, model.id))
        assert left < FRESH_WITHIN
    assert seconds_until(lambda: pending(runtime) == 0) < FRESH_WITHIN  # creators' and tags' documents follow


def test_repeated_changes_to_one_entity_are_written_once(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = create_user(runtime)
    model = create_model(runtime, owner, published=True)
    with runtime.db.transaction() as session:
        for _ in range(3):
            outbox.queue(session, "models", [model.id], "update")
    loads: list[Sequence[int]] = []
    models = sources.source("models")
    original = models.load

    def counting(session: Session, ids: Sequence[int]) -> dict[int, Document | None]:
        loads.append(list(ids))
        return original(session, ids)

    monkeypatch.setattr(models, "load", counting)
    apply_all(runtime)
    assert loads == [[model.id]]
    assert documents(runtime, "models") == {model.id} and pending(runtime) == 0


def test_a_late_embedding_never_lands_on_a_document_rewritten_since(runtime: Runtime) -> None:
    """The embedder works outside the write that stored the text: by the time it writes, the document may hold
    another text, or (SQLite reuses the highest id) be another entity's. The old text's vector is not written."""
    with runtime.db.transaction() as session:
        (before,) = store.upsert(
            session, [Document(index="models", entity_id=1, name="Quiet lake", body="Mist.", created_at=utcnow())]
        )
    with runtime.db.transaction() as session:
        store.delete(session, "models", [1])
        (after,) = store.upsert(
            session, [Document(index="models", entity_id=2, name="Neon alley", body="Rain.", created_at=utcnow())]
        )
    with runtime.db.transaction() as session:
        (rewritten,) = store.upsert(
            session, [Document(index="models", entity_id=2, name="Neon alley", body="Fog.", created_at=utcnow())]
        )
    with runtime.db.transaction() as session:
        assert indexer.embed(session, [before, after]) == 0, "neither is the text the documents hold now"
        assert indexer.embed(session, [rewritten]) == 1
    with runtime.db.session() as session:
        rows = session.execute(select(SearchEmbedding.doc_id, SearchEmbedding.text_hash)).all()
    assert [tuple(row) for row in rows] == [(rewritten.doc_id, rewritten.text_hash)]
    if runtime.db.dialect == "sqlite":
        assert after.doc_id == before.doc_id, "the case this guards against: the id was given again"


def test_vectors_made_before_a_rewrite_are_not_written_after_it(runtime: Runtime) -> None:
    """The applier runs the model in a session that only reads, then writes: the write checks the text again."""
    with runtime.db.transaction() as session:
        stored = store.upsert(session, [Document(index="models", entity_id=1, name="Dune", created_at=utcnow())])
    with runtime.db.session() as session:
        embedded = indexer.make_embeddings(session, stored)
    assert embedded is not None and len(embedded.rows) == 1
    with runtime.db.transaction() as session:
        store.upsert(session, [Document(index="models", entity_id=1, name="Dune sea", created_at=utcnow())])
    with runtime.db.transaction() as session:
        assert indexer.write_embeddings(session, stored, embedded) == 0
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SearchEmbedding)) == 0


def test_tagging_a_shown_image_brings_the_tag_into_the_tags_index_and_untagging_takes_it_out(
    runtime: Runtime,
) -> None:
    owner = create_user(runtime)
    _, (image_id,) = make_post(runtime, owner, publish=True)
    apply_all(runtime)

    def tag_image(names: list[str]) -> None:
        with runtime.db.transaction() as session:
            image_tags.set_image_tags(session, session.get_one(User, owner.id), session.get_one(Image, image_id), names)
        apply_all(runtime)

    tag_image(["heron"])
    with runtime.db.session() as session:
        heron = session.scalars(select(Tag.id).where(Tag.name == "heron")).one()
    assert heron in documents(runtime, "tags")
    tag_image([])
    assert heron not in documents(runtime, "tags")


def test_content_hidden_by_moderation_leaves_the_index(runtime: Runtime) -> None:
    owner = create_user(runtime)
    moderator = create_user(runtime, role=Role.moderator)
    model = create_model(runtime, owner, published=True)
    other = create_model(runtime, owner, published=True)
    apply_all(runtime)
    assert documents(runtime, "models") == {model.id, other.id}
    assert documents(runtime, "images") == {*model.image_ids, *other.image_ids}
    assert documents(runtime, "users") == {owner.id}

    with runtime.db.transaction() as session:
        target, actor = session.get(Model, model.id), session.get(User, moderator.id)
        assert target is not None and actor is not None
        lifecycle.unpublish_model(session, target, actor, kind=UnpublishKind.violation, reason="stolen")
        image = session.get(Image, other.image_ids[0])
        assert image is not None
        moderate.block(session, image, reason=BlockedFor.moderated, actor=actor)
    apply_all(runtime)

    assert documents(runtime, "models") == {other.id}
    assert documents(runtime, "images") == set()  # its version went down, and the other was blocked


def test_a_take_down_hides_the_models_images_until_it_is_lifted(runtime: Runtime) -> None:
    owner = create_user(runtime)
    moderator = create_user(runtime, role=Role.moderator)
    model = create_model(runtime, owner, published=True)
    apply_all(runtime)

    def set_mode(mode: ModelModifier | None) -> None:
        with runtime.db.transaction() as session:
            target, actor = session.get(Model, model.id), session.get(User, moderator.id)
            assert target is not None and actor is not None
            catalog_service.update_model(session, actor, target, ModelUpdate(mode=mode, clear_mode=mode is None))
        apply_all(runtime)

    set_mode(ModelModifier.TakenDown)
    assert documents(runtime, "images") == set() and documents(runtime, "models") == {model.id}
    set_mode(None)
    assert documents(runtime, "images") == set(model.image_ids)


def test_a_failing_entity_does_not_hold_up_the_others(runtime: Runtime) -> None:
    class Broken:
        index = "articles"

        def load(self, session: Session, entity_ids: Sequence[int]) -> dict[int, Document | None]:
            raise RuntimeError("this source is broken")

        def ids(self, session: Session, *, after: int = 0, limit: int = 1000) -> list[int]:
            return []

        def stamps(self, session: Session, entity_ids: Sequence[int]) -> dict[int, datetime | None]:
            return {}

    owner = create_user(runtime)
    model = create_model(runtime, owner, published=True)
    sources.register(Broken())
    try:
        with runtime.db.transaction() as session:
            outbox.queue(session, "articles", [13], "update")
        with runtime.db.session(write=True) as session, pytest.raises(RuntimeError):
            indexer.apply_claimed(session)
        with runtime.db.session(write=True) as session:
            applied, _ = indexer.apply_claimed(session, isolate=True)
    finally:
        sources_base._sources.pop("articles")
    assert applied > 1 and pending(runtime) == 0
    assert model.id in documents(runtime, "models")


def test_the_applier_wakes_on_commit_and_polls_for_other_processes_rows(runtime: Runtime) -> None:
    owner = create_user(runtime)
    applier = indexer.Applier(runtime)
    applier.poll_seconds = 0.3
    applier.start()
    try:
        model = create_model(runtime, owner, published=True)  # this process's commit: the applier is woken
        assert seconds_until(lambda: model.id in documents(runtime, "models")) < FRESH_WITHIN
        with runtime.db.transaction() as session:  # as another process would leave it: no wake-up
            session.add(SearchIndexUpdate(index="models", entity_id=model.id, action="delete"))
            session.execute(update(Model).where(Model.id == model.id).values(status=ModelStatus.Unpublished))
        assert seconds_until(lambda: model.id not in documents(runtime, "models")) < applier.poll_seconds + 1
    finally:
        applier.stop()


@pytest.mark.scaled_only  # SQLite has one writer; PostgreSQL appliers claim side by side
def test_appliers_in_parallel_claim_different_rows(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        session.add_all(SearchIndexUpdate(index="tags", entity_id=n, action="update") for n in range(1, 11))
    with runtime.db.session() as first, runtime.db.session() as second:
        mine = indexer._claim(first, 4)
        theirs = indexer._claim(second, 100)
        assert len(mine) == 4 and len(theirs) == 6
        assert not {row[0] for row in mine} & {row[0] for row in theirs}


def test_models_and_images_are_claimed_apart_from_the_counts_of_creators_and_tags(runtime: Runtime) -> None:
    """The applier's first thread never waits on a tag's recount: it claims only models and images."""
    with runtime.db.transaction() as session:
        for n, index in enumerate(("tags", "models", "users", "images", "tags"), start=1):
            session.add(SearchIndexUpdate(index=index, entity_id=n, action="update"))
    with runtime.db.session() as session:
        assert [row[1] for row in indexer._claim(session, 100, indexer.Lane.first)] == ["models", "images"]
        assert [row[1] for row in indexer._claim(session, 100, indexer.Lane.later)] == ["tags", "users", "tags"]
        assert len(indexer._claim(session, 100)) == 5
        assert indexer.has_pending(session, indexer.Lane.first) and indexer.has_pending(session, indexer.Lane.later)


def test_the_later_lane_applies_every_row_it_claims_a_few_entities_per_transaction(runtime: Runtime) -> None:
    owner = create_user(runtime)
    tagged = create_model(runtime, owner, published=True, tags=["ink"])
    rows = indexer.LATER_CHUNK * 2 + 3
    with runtime.db.transaction() as session:
        tag_ids = session.scalars(select(SearchIndexUpdate.entity_id).where(SearchIndexUpdate.index == "tags")).all()
        session.execute(update(SearchIndexUpdate).values(processed_at=utcnow()))
        ids = [*tag_ids, *range(10_000, 10_000 + rows - len(tag_ids))]  # the rest name no tag: nothing to index
        session.add_all(SearchIndexUpdate(index="tags", entity_id=n, action="update") for n in ids)
    with runtime.db.session(write=True) as session:
        applied, _ = indexer.apply_claimed(session, lane=indexer.Lane.later)
    assert applied == rows and pending(runtime) == 0
    assert documents(runtime, "tags") == set(tag_ids) and tag_ids, tagged


def test_processed_rows_are_pruned_after_a_day(runtime: Runtime) -> None:
    from datetime import timedelta

    from modelyard.search.tasks import prune_outbox

    now = utcnow()
    with runtime.db.transaction() as session:
        session.add_all(
            [
                SearchIndexUpdate(index="models", entity_id=1, action="update", processed_at=now - timedelta(days=2)),
                SearchIndexUpdate(index="models", entity_id=2, action="update", processed_at=now),
                SearchIndexUpdate(index="models", entity_id=3, action="update"),
            ]
        )
    with runtime.db.session() as session:
        prune_outbox(session)
    with runtime.db.session() as session:
        assert sorted(session.scalars(select(SearchIndexUpdate.entity_id))) == [2, 3]
