"""The documents each index reads from the database: the facets and metrics pages and the engine rely on, and who
is left out (drafts, hidden images, banned creators, unused tags)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, update

from modelyard.accounts.models import User
from modelyard.accounts.moderation import ban
from modelyard.catalog import service
from modelyard.catalog.enums import Availability, CheckpointType, CommercialUse, ModelType
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model
from modelyard.catalog.schemas import ModelUpdate
from modelyard.core.nsfw import BrowsingLevel
from modelyard.core.runtime import Runtime
from modelyard.images.models import Image, Ingestion, Post
from modelyard.search import sources
from modelyard.search.types import Document
from tests.support.catalog import create_model
from tests.support.factories import create_user


def load(runtime: Runtime, index: str, ids: list[int]) -> dict[int, Document | None]:
    with runtime.db.session() as session:
        return sources.source(index).load(session, ids)


def only(runtime: Runtime, index: str, entity_id: int) -> Document:
    doc = load(runtime, index, [entity_id])[entity_id]
    assert doc is not None
    return doc


@contextmanager
def counted_queries(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", note)


def edit(runtime: Runtime, model_id: int, **changes: Any) -> None:
    with runtime.db.transaction() as session:
        model = session.get(Model, model_id)
        assert model is not None
        user = session.get(User, model.user_id)
        assert user is not None
        service.update_model(session, user, model, ModelUpdate(**changes))


def test_a_published_models_document_has_its_words_facets_and_metrics(runtime: Runtime) -> None:
    owner = create_user(runtime, username="Painter")
    model = create_model(runtime, owner, name="Ink Wash", type=ModelType.Checkpoint, published=True, tags=["Anime"])
    edit(
        runtime,
        model.id,
        description="<p>Soft <b>ink</b> &amp; wash</p><p>strokes</p><script>alert(1)</script>",
        checkpoint_type=CheckpointType.Merge,
        allow_commercial_use=[CommercialUse.Image, CommercialUse.Rent],
        allow_no_credit=False,
    )
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == model.id).values(download_count=42))

    doc = only(runtime, "models", model.id)

    assert doc.name == "Ink Wash" and doc.user_id == owner.id and doc.public
    assert doc.body == "Soft ink & wash strokes"
    assert {"anime", "tok", "Painter", "Ink_Wash_v1.safetensors"} <= set(doc.keywords.split())
    assert doc.terms["type"] == ("Checkpoint",)
    assert doc.terms["base_model"] == ("SD 1.5",)
    assert doc.terms["creator"] == ("Painter",)
    assert doc.terms["tag"] == ("anime",)
    assert doc.terms["checkpoint_type"] == ("Merge",)
    assert doc.terms["file_format"] == ("SafeTensor",)
    assert set(doc.terms["license"]) == {"derivatives", "different_license", "commercial:Image", "commercial:Rent"}
    assert "early_access" not in doc.terms and "can_generate" not in doc.terms
    assert doc.metrics["downloads"] == 42 and doc.metrics["images"] == 1
    assert doc.nsfw_level == BrowsingLevel.PG
    assert doc.created_at is not None and doc.source_updated_at is not None


def test_only_published_models_are_documents_and_unlisted_ones_are_private(runtime: Runtime) -> None:
    owner = create_user(runtime)
    draft = create_model(runtime, owner, name="Draft")
    listed = create_model(runtime, owner, name="Listed", published=True)
    hidden = create_model(runtime, owner, name="Unsearchable", published=True)
    edit(runtime, hidden.id, availability=Availability.Unsearchable)
    gone = create_model(runtime, owner, name="Unpublished", published=True)
    with runtime.db.transaction() as session:
        model, user = session.get(Model, gone.id), session.get(User, owner.id)
        assert model is not None and user is not None
        lifecycle.unpublish_model(session, model, user)

    docs = load(runtime, "models", [draft.id, listed.id, hidden.id, gone.id, 2**31 - 1])

    assert docs[draft.id] is None and docs[gone.id] is None and docs[2**31 - 1] is None
    assert docs[listed.id] is not None and docs[listed.id].public  # type: ignore[union-attr]
    assert docs[hidden.id] is not None and not docs[hidden.id].public  # type: ignore[union-attr]
    with runtime.db.session() as session:
        assert sources.source("models").ids(session) == [listed.id, hidden.id]


def test_a_model_flagged_nsfw_is_at_least_r_before_it_is_rated(runtime: Runtime) -> None:
    owner = create_user(runtime)
    model = create_model(runtime, owner, published=True)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == model.id).values(nsfw=True, nsfw_level=0))
    assert only(runtime, "models", model.id).nsfw_level == BrowsingLevel.R


def test_loading_a_batch_costs_the_same_queries_whatever_its_size(runtime: Runtime) -> None:
    owner = create_user(runtime)
    ids = [create_model(runtime, owner, name=f"Model {n}", published=True, tags=[f"t{n}"]).id for n in range(6)]
    for index, entity_ids in (("models", ids), ("users", [owner.id]), ("tags", None), ("images", None)):
        with runtime.db.session() as session:
            every = entity_ids or sources.source(index).ids(session)
        with counted_queries(runtime) as few:
            load(runtime, index, every[:1])
        with counted_queries(runtime) as many:
            docs = load(runtime, index, every)
        assert all(doc is not None for doc in docs.values()), index
        assert len(many) == len(few), index


def test_ids_page_through_every_indexable_id_in_order(runtime: Runtime) -> None:
    owner = create_user(runtime)
    ids = [create_model(runtime, owner, name=f"M{n}", published=True).id for n in range(5)]
    create_model(runtime, owner, name="draft")
    source = sources.source("models")
    seen: list[int] = []
    with runtime.db.session() as session:
        while page := source.ids(session, after=seen[-1] if seen else 0, limit=2):
            seen.extend(page)
    assert seen == ids


def test_an_images_document_has_its_prompt_tags_and_models_unless_the_prompt_is_hidden(runtime: Runtime) -> None:
    owner = create_user(runtime, username="Shooter")
    model = create_model(runtime, owner, published=True)
    image_id = model.image_ids[0]
    with runtime.db.transaction() as session:
        session.execute(
            update(Image).where(Image.id == image_id).values(meta={"prompt": "a red  fox in snow", "seed": 1})
        )

    doc = only(runtime, "images", image_id)

    assert doc.name == "a red fox in snow" and doc.body == "a red fox in snow"
    assert doc.terms["creator"] == ("Shooter",) and doc.terms["model"] == (str(model.id),)
    assert doc.terms["base_model"] == ("SD 1.5",) and doc.public
    with runtime.db.transaction() as session:
        session.execute(update(Image).where(Image.id == image_id).values(hide_meta=True))
    hidden = only(runtime, "images", image_id)
    assert hidden.name == "" and hidden.body == ""


def test_images_nobody_may_see_are_not_documents(runtime: Runtime) -> None:
    owner = create_user(runtime)
    blocked = create_model(runtime, owner, published=True).image_ids[0]
    unposted = create_model(runtime, owner, published=True)
    draft = create_model(runtime, owner).image_ids[0]
    with runtime.db.transaction() as session:
        session.execute(update(Image).where(Image.id == blocked).values(ingestion=Ingestion.Blocked))
        session.execute(update(Post).where(Post.id == unposted.post_ids[0]).values(published_at=None))
    docs = load(runtime, "images", [blocked, unposted.image_ids[0], draft])
    assert set(docs.values()) == {None}


def test_creators_with_listed_models_are_documents_until_banned(runtime: Runtime) -> None:
    creator = create_user(runtime, username="Maker")
    nobody = create_user(runtime)
    create_model(runtime, creator, published=True)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.user_id == creator.id).values(download_count=7))

    docs = load(runtime, "users", [creator.id, nobody.id])

    assert docs[nobody.id] is None
    doc = docs[creator.id]
    assert doc is not None and doc.name == "Maker"
    assert doc.metrics["downloads"] == 7 and doc.metrics["popularity"] == 1
    with runtime.db.transaction() as session:
        user = session.get(User, creator.id)
        assert user is not None
        ban(session, None, user, reason="spam")
    assert load(runtime, "users", [creator.id])[creator.id] is None


def test_tags_are_documents_while_something_listed_carries_them(runtime: Runtime) -> None:
    owner = create_user(runtime)
    create_model(runtime, owner, published=True, tags=["shared", "listed"])
    create_model(runtime, owner, published=True, tags=["shared"])
    create_model(runtime, owner, tags=["draft only"])
    with runtime.db.session() as session:
        source = sources.source("tags")
        docs = {doc.name: doc for doc in source.load(session, source.ids(session)).values() if doc is not None}
    assert set(docs) == {"shared", "listed"}  # not "draft only"
    assert docs["shared"].metrics["popularity"] == 2 and docs["listed"].metrics["popularity"] == 1
