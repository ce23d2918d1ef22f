"""Writing an index: documents, their facet terms and their full-text entries, a batch at a time.

`upsert` writes what the sources made of the entities (a statement per table per batch) and tells the semantic
side which documents' text changed, so only those are embedded again. It never touches the `trend_*` columns:
the trending job owns them, and a document keeps its trend across updates. `delete` and
`delete_older_generations` take documents out, with their terms, embeddings and full-text entries.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from modelyard.core.db import utcnow
from modelyard.search.backends import backend_for
from modelyard.search.backends.base import ENTRY_MAX_CHARS, Entry
from modelyard.search.models import METRICS, SearchDocument, SearchTerm
from modelyard.search.types import Document

BATCH = 500
SEMANTIC_MAX_CHARS = 2000
NAME_CHARS = 300
FACET_CHARS = 20
VALUE_CHARS = 100
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
_INTEGER_METRICS = {"likes": INT4_MAX, "comments": INT4_MAX, "collected": INT4_MAX, "images": INT4_MAX}

# Written on insert and on update; `generation` only when a rebuild gives one, `trend_*` never.
_UPDATED = (
    *("name", "keywords", "body", "nsfw_level", "user_id", "public", "created_at", "source_updated_at"),
    *("indexed_at", "text_hash", "facets", *METRICS),
)


@dataclass(frozen=True)
class Stored:
    """A document as written: what the semantic side needs to embed it again when its text changed."""

    doc_id: int
    index: str
    entity_id: int
    semantic_text: str
    text_hash: str
    text_changed: bool


def upsert(session: Session, docs: Sequence[Document], *, generation: int | None = None) -> list[Stored]:
    """Insert or update these documents (the last one wins when an entity comes twice). A rebuild passes its
    `generation`; otherwise a new document takes its index's latest generation and an existing one keeps its own,
    so a rebuild running meanwhile does not delete it."""
    latest = list({(doc.index, doc.entity_id): doc for doc in docs}.values())
    stored: list[Stored] = []
    for start in range(0, len(latest), BATCH):
        stored.extend(_upsert_batch(session, latest[start : start + BATCH], generation))
    return stored


def delete(session: Session, index: str, entity_ids: Iterable[int]) -> list[int]:
    """Remove these entities' documents (terms and embeddings go with them); the doc ids removed."""
    wanted = sorted({entity_id for entity_id in entity_ids if -INT4_MAX <= entity_id <= INT4_MAX})
    removed: list[int] = []
    for start in range(0, len(wanted), BATCH):
        statement = (
            sql_delete(SearchDocument)
            .where(SearchDocument.index == index, SearchDocument.entity_id.in_(wanted[start : start + BATCH]))
            .returning(SearchDocument.id)
        )
        removed.extend(session.execute(statement).scalars())
    backend_for(session).remove(session, removed)
    return removed


def delete_older_generations(session: Session, index: str, generation: int) -> int:
    """Remove the documents of `index` that a rebuild of `generation` did not write: entities that are gone."""
    stale = session.execute(
        select(SearchDocument.id).where(SearchDocument.index == index, SearchDocument.generation < generation)
    ).scalars()
    doc_ids = list(stale)
    for start in range(0, len(doc_ids), BATCH):
        session.execute(sql_delete(SearchDocument).where(SearchDocument.id.in_(doc_ids[start : start + BATCH])))
    backend_for(session).remove(session, doc_ids)
    return len(doc_ids)


def semantic_text(doc: Document) -> str:
    text = doc.semantic_text or "\n".join(part for part in (doc.name, doc.keywords, doc.body) if part)
    return clean(text)[:SEMANTIC_MAX_CHARS]


def clean(text: str) -> str:
    """Text every database stores: no NUL (PostgreSQL refuses it) and no lone surrogate (not encodable)."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _upsert_batch(session: Session, docs: Sequence[Document], generation: int | None) -> list[Stored]:
    previous = _stored_hashes(session, docs)
    latest_generation = _latest_generations(session, {doc.index for doc in docs}) if generation is None else {}
    texts = {(doc.index, doc.entity_id): semantic_text(doc) for doc in docs}
    hashes = {key: hashlib.md5(text.encode(), usedforsecurity=False).hexdigest() for key, text in texts.items()}
    rows = [
        _row(
            doc,
            hashes[(doc.index, doc.entity_id)],
            generation if generation is not None else latest_generation.get(doc.index, 0),
        )
        for doc in docs
    ]
    doc_ids = _write_documents(session, rows, update_generation=generation is not None)
    by_key = {(doc.index, doc.entity_id): doc for doc in docs}
    _replace_terms(session, {doc_ids[key]: doc for key, doc in by_key.items()})
    backend_for(session).write(
        session,
        [
            Entry(doc_ids[key], row["name"], row["keywords"], row["body"][:ENTRY_MAX_CHARS])
            for key, row in zip(by_key, rows, strict=True)
        ],
    )
    return [
        Stored(
            doc_id=doc_ids[key],
            index=key[0],
            entity_id=key[1],
            semantic_text=texts[key],
            text_hash=hashes[key],
            text_changed=previous.get(key) != hashes[key],
        )
        for key in by_key
    ]


def _row(doc: Document, text_hash: str, generation: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "index": doc.index,
        "entity_id": doc.entity_id,
        "name": clean(doc.name)[:NAME_CHARS],
        "keywords": clean(doc.keywords),
        "body": clean(doc.body),
        "nsfw_level": doc.nsfw_level,
        "user_id": doc.user_id,
        "public": doc.public,
        "created_at": doc.created_at,
        "source_updated_at": doc.source_updated_at,
        "indexed_at": utcnow(),
        "generation": generation,
        "text_hash": text_hash,
        "facets": facet_lines(terms_of(doc)),
    }
    for metric in METRICS:
        value = doc.metrics.get(metric, 0)
        if metric == "downloads":
            row[metric] = max(0, min(int(value), INT8_MAX))
        elif metric in _INTEGER_METRICS:
            row[metric] = max(0, min(int(value), _INTEGER_METRICS[metric]))
        else:
            row[metric] = float(value)
    return row


def _write_documents(session: Session, rows: list[dict[str, Any]], *, update_generation: bool) -> dict[Any, int]:
    """One INSERT ... ON CONFLICT DO UPDATE for the batch; the doc id of each (index, entity_id)."""
    dialect = session.get_bind().dialect.name
    inserting = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SearchDocument)
    updated = (*_UPDATED, "generation") if update_generation else _UPDATED
    statement = inserting.on_conflict_do_update(
        index_elements=[SearchDocument.index, SearchDocument.entity_id],
        set_={column: inserting.excluded[column] for column in updated},
    ).returning(SearchDocument.id, SearchDocument.index, SearchDocument.entity_id)
    result = session.execute(statement, rows)
    return {(index, entity_id): doc_id for doc_id, index, entity_id in result}


def _stored_hashes(session: Session, docs: Sequence[Document]) -> dict[tuple[str, int], str]:
    by_index: dict[str, list[int]] = defaultdict(list)
    for doc in docs:
        by_index[doc.index].append(doc.entity_id)
    hashes: dict[tuple[str, int], str] = {}
    for index, entity_ids in by_index.items():
        rows = session.execute(
            select(SearchDocument.entity_id, SearchDocument.text_hash).where(
                SearchDocument.index == index, SearchDocument.entity_id.in_(entity_ids)
            )
        )
        hashes.update(((index, entity_id), text_hash) for entity_id, text_hash in rows)
    return hashes


def latest_generation(session: Session, index: str) -> int:
    """The newest generation of the index (a rebuild writes the next one). One index at a time: the max of an
    equality is the last entry of `(index, generation)`, where grouping several indexes reads all of them."""
    return int(session.scalar(select(func.max(SearchDocument.generation)).where(SearchDocument.index == index)) or 0)


def _latest_generations(session: Session, indexes: set[str]) -> dict[str, int]:
    return {index: latest_generation(session, index) for index in indexes}


def terms_of(doc: Document) -> set[tuple[str, str]]:
    """The document's (facet, value) pairs as stored: cleaned, cut to the columns' sizes, on one line each."""
    return {
        (clean(facet)[:FACET_CHARS], clean(value).replace("\n", " ")[:VALUE_CHARS])
        for facet, values in doc.terms.items()
        for value in values
        if value
    }


def facet_lines(terms: Iterable[tuple[str, str]]) -> str:
    """`search_document.facets`: the terms as `facet:value` lines (a facet name holds no colon)."""
    return "\n".join(sorted(f"{facet}:{value}" for facet, value in terms))


def _replace_terms(session: Session, docs: dict[int, Document]) -> None:
    session.execute(sql_delete(SearchTerm).where(SearchTerm.doc_id.in_(list(docs))))
    terms = {(doc_id, facet, value) for doc_id, doc in docs.items() for facet, value in terms_of(doc)}
    if terms:
        session.execute(
            insert(SearchTerm), [{"doc_id": doc_id, "facet": facet, "value": value} for doc_id, facet, value in terms]
        )
