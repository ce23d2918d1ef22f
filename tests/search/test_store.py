"""Writing the index on each database: upserts keep a document's id and trend while replacing its text, terms and
full-text entry; deletes and rebuild generations take documents out of every structure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from modelyard.core.runtime import Runtime
from modelyard.search import service, store
from modelyard.search.models import SearchDocument, SearchTerm
from modelyard.search.types import Document, SearchQuery, Sort

START = datetime(2026, 3, 1, tzinfo=UTC)


def doc(entity_id: int, name: str, **fields: Any) -> Document:
    fields.setdefault("created_at", START + timedelta(hours=entity_id))
    return Document(index=fields.pop("index", "models"), entity_id=entity_id, name=name, **fields)


def upsert(runtime: Runtime, *docs: Document, generation: int | None = None) -> list[store.Stored]:
    with runtime.db.transaction() as session:
        return store.upsert(session, docs, generation=generation)


def found(runtime: Runtime, **asked: Any) -> list[int]:
    asked.setdefault("index", "models")
    with runtime.db.session() as session:
        page = service.search(session, None, SearchQuery(mode="keyword", limit=100, **asked))
    return [hit.entity_id for hit in page.hits]


def document(runtime: Runtime, entity_id: int, index: str = "models") -> SearchDocument:
    with runtime.db.session() as session:
        row = session.scalars(
            select(SearchDocument).where(SearchDocument.index == index, SearchDocument.entity_id == entity_id)
        ).one()
        session.expunge(row)
        return row


def term_rows(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(SearchTerm)) or 0)


def test_an_update_keeps_the_id_and_reports_whether_the_text_changed(runtime: Runtime) -> None:
    [first] = upsert(runtime, doc(1, "Glass Orb", body="shiny"))
    [same] = upsert(runtime, doc(1, "Glass Orb", body="shiny", metrics={"downloads": 40}))
    [changed] = upsert(runtime, doc(1, "Glass Orb", body="cracked"))
    [told] = upsert(runtime, doc(1, "Glass Orb", body="cracked", semantic_text="a broken sphere of glass"))

    assert first.doc_id == same.doc_id == changed.doc_id == told.doc_id
    assert first.text_changed and not same.text_changed and changed.text_changed and told.text_changed
    assert first.semantic_text == "Glass Orb\nshiny"
    assert told.semantic_text == "a broken sphere of glass"
    assert len(told.text_hash) == 32
    assert document(runtime, 1).downloads == 0  # the last write holds no downloads


def test_an_update_replaces_the_text_and_terms_and_keeps_the_trend(runtime: Runtime) -> None:
    upsert(runtime, doc(1, "Old Lantern", keywords="brass", terms={"tag": ("brass", "old")}))
    with runtime.db.transaction() as session:
        session.execute(update(SearchDocument).values(trend_day=4.5, trend_week=2.0, trend_month=1.0))

    upsert(runtime, doc(1, "New Lantern", keywords="steel", terms={"tag": ("steel",)}, metrics={"likes": 3}))

    row = document(runtime, 1)
    assert (row.trend_day, row.trend_week, row.trend_month) == (4.5, 2.0, 1.0)
    assert row.likes == 3
    assert found(runtime, text="old") == [] and found(runtime, text="brass") == []
    assert found(runtime, text="steel lantern") == [1]
    assert found(runtime, filters={"tag": ("brass",)}) == []
    assert found(runtime, filters={"tag": ("steel",)}) == [1]
    assert term_rows(runtime) == 1


def test_the_facet_lines_hold_the_same_terms_as_the_term_rows(runtime: Runtime) -> None:
    """`facets` is what searches count from; `search_term` what SQLite filters by: they never disagree, and a
    value holding a line break or a colon stays one term."""
    terms = {"tag": ("ink", "two\nlines", "ratio:16:9"), "type": ("LORA",), "blank": ("",)}
    upsert(runtime, doc(1, "Brush", terms=terms))
    upsert(runtime, doc(2, "Pen", terms={"tag": ("ink",)}))
    with runtime.db.session() as session:
        rows = set(session.execute(select(SearchTerm.doc_id, SearchTerm.facet, SearchTerm.value)).tuples())
    lines = {(row.id, *line.split(":", 1)) for row in (document(runtime, 1), document(runtime, 2)) for line in
             row.facets.split("\n")}  # fmt: skip
    assert lines == rows
    assert ("tag", "two lines") in {(facet, value) for _, facet, value in rows}
    with runtime.db.session() as session:
        page = service.search(session, None, SearchQuery(index="models", facets=("tag",), mode="keyword"))
    assert {(value.value, value.count) for value in page.facets["tag"]} == {
        ("ink", 2),
        ("two lines", 1),
        ("ratio:16:9", 1),
    }
    assert found(runtime, filters={"tag": ("ratio:16:9",)}) == [1]
    assert found(runtime, filters={"tag": ("two lines", "nothing")}) == [1]


def test_a_batch_past_the_statement_size_is_written_whole(runtime: Runtime) -> None:
    docs = [doc(n, f"Pebble {n}", terms={"type": ("LORA",)}) for n in range(1, store.BATCH + 102)]
    docs.append(doc(7, "Pebble seven again"))  # the same entity twice: the last one wins

    stored = upsert(runtime, *docs)

    assert len(stored) == len({item.doc_id for item in stored}) == store.BATCH + 101
    assert document(runtime, 7).name == "Pebble seven again"
    with runtime.db.session() as session:
        page = service.search(session, None, SearchQuery(index="models", text="pebble", mode="keyword"))
    assert page.total == store.BATCH + 101


def test_hostile_document_text_is_stored_cleanly(runtime: Runtime) -> None:
    upsert(
        runtime,
        doc(
            1,
            "Null\x00byte " + "x" * 400,
            keywords="bad\ud800surrogate",
            body="emoji 🐉 and RTL مرحبا " * 5000,
            terms={"tag": ("t" * 300, "ok\x00")},
        ),
    )

    row = document(runtime, 1)
    assert row.name.startswith("Nullbyte ") and len(row.name) == store.NAME_CHARS
    assert found(runtime, text="مرحبا") == [1]
    assert found(runtime, filters={"tag": ("ok",)}) == [1]


def test_delete_takes_documents_out_of_results_terms_and_the_full_text_index(runtime: Runtime) -> None:
    upsert(runtime, doc(1, "Comet tail", terms={"tag": ("space",)}), doc(2, "Comet head", terms={"tag": ("space",)}))
    upsert(runtime, doc(1, "Comet", index="tags"))
    gone, kept = document(runtime, 1).id, document(runtime, 2).id

    with runtime.db.transaction() as session:
        removed = store.delete(session, "models", [1, 99, 2**40])

    assert removed == [gone]
    assert found(runtime, text="comet") == [2]
    assert found(runtime, index="tags", text="comet") == [1]  # another index's entity 1 stays
    assert term_rows(runtime) == 1
    assert document(runtime, 2).id == kept


def test_a_rebuild_deletes_what_it_did_not_write(runtime: Runtime) -> None:
    upsert(runtime, doc(1, "Alpha"), doc(2, "Beta"), doc(3, "Gamma"), generation=1)
    upsert(runtime, doc(1, "Alpha"), doc(3, "Gamma"), generation=2)
    upsert(runtime, doc(4, "Delta"))  # written by the outbox during the rebuild: takes the latest generation
    upsert(runtime, doc(9, "Other index"), generation=1)
    upsert(runtime, doc(9, "Other index", index="tags"), generation=1)

    with runtime.db.transaction() as session:
        removed = store.delete_older_generations(session, "models", 2)

    assert removed == 2
    assert found(runtime, sort=Sort.newest) == [4, 3, 1]
    assert found(runtime, index="tags", text="other") == [9]
