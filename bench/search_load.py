"""Loading the search benchmark's models index: the documents as the models source makes them, written the way
`search.store.upsert` writes them, and a vector for each.

`store.upsert` is the real path but costs seconds per 1,000 documents on PostgreSQL (an INSERT ... ON CONFLICT
per row into a table with a dozen indexes, two of them GIN), too long for 100k. So all but the last batches are
written in bulk into the empty tables, mirroring it: the same rows (cleaned text, text hash, metrics) by COPY on
PostgreSQL and executemany on SQLite, the same facet terms, the full-text entries through the backend's own
`write`. The last batches go through `store.upsert` itself, into the nearly full index, and are timed.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from bench.search_data import Catalog, batches, settle, vector_parts, vector_texts
from modelyard.core.db import Base, utcnow
from modelyard.core.runtime import Runtime
from modelyard.search import semantic, store
from modelyard.search.backends import backend_for
from modelyard.search.backends.base import ENTRY_MAX_CHARS, Entry
from modelyard.search.models import METRICS, TREND_COLUMNS
from modelyard.search.semantic.embeddings import encode_vector
from modelyard.search.sources import source
from modelyard.search.types import Document

LOAD_BATCH = 1000
UPSERT_BATCHES = 3  # the last batches, written by `store.upsert` and timed
SUBJECT_WEIGHT = 0.5  # a model's vector: its description's embedding plus this much of its subject's
DOCUMENT_COLUMNS = [
    *("id", "index", "entity_id", "name", "keywords", "body", "nsfw_level", "user_id", "public", "created_at"),
    *("source_updated_at", "indexed_at", "generation", "text_hash", *METRICS, *TREND_COLUMNS, "facets"),
]
EMBEDDING_COLUMNS = ["doc_id", "index", "model", "dim", "vector", "text_hash", "updated_at"]


class Vectors:
    """Each model's vector, made from the embeddings of a few hundred distinct texts (embedded once per run)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.texts = vector_texts(catalog)
        self.parts = vector_parts(catalog, self.texts)
        self._embedded: np.ndarray | None = None
        self.embed_ms_per_text = 0.0

    def of(self, model_ids: Sequence[int]) -> np.ndarray:
        if self._embedded is None:
            started = time.perf_counter()
            self._embedded = semantic.embedder().passages(self.texts)
            self.embed_ms_per_text = (time.perf_counter() - started) * 1000 / len(self.texts)
        # A probe model has the shape (and so the vector) of the generated model its id wraps around to.
        size = len(self.catalog.models)
        rows = [self.parts[(m - 1) % size + 1] for m in model_ids]
        summed = self._embedded[[d for d, _ in rows]] + SUBJECT_WEIGHT * self._embedded[[s for _, s in rows]]
        normalised: np.ndarray = summed / np.linalg.norm(summed, axis=1, keepdims=True)
        return normalised


def load_index(runtime: Runtime, vectors: Vectors) -> dict[str, float]:
    """Every published model's document and vector; the time of the source and of `store.upsert` per 1,000."""
    load_ms: list[float] = []
    upsert_ms: list[float] = []
    chunks = list(batches([m.id for m in vectors.catalog.models], LOAD_BATCH))
    for number, chunk in enumerate(chunks):
        timed = number >= len(chunks) - UPSERT_BATCHES
        if timed and number == len(chunks) - UPSERT_BATCHES:
            settle(runtime.db.engine, ["search_document"])  # the sequence past the bulk-written ids
        with runtime.db.transaction() as session:
            started = time.perf_counter()
            loaded = source("models").load(session, list(chunk))
            docs = [doc for doc in loaded.values() if doc is not None]
            load_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            written = upserted(session, docs) if timed else bulk_written(session, docs)
            if timed:
                upsert_ms.append((time.perf_counter() - started) * 1000)
            write_vectors(session, written, vectors)
    settle(runtime.db.engine, ["search_document", "search_term", "search_embedding"])
    return {
        "source load ms per 1,000": round(statistics.median(load_ms), 1),
        "store.upsert ms per 1,000 (into the full index)": round(statistics.fmean(upsert_ms), 1),
        "passage embedding ms per text": round(vectors.embed_ms_per_text, 1),
    }


def upserted(session: Session, docs: Sequence[Document]) -> list[tuple[int, int, str]]:
    """(doc id, entity id, text hash) of each document, written by `store.upsert`."""
    return [(item.doc_id, item.entity_id, item.text_hash) for item in store.upsert(session, docs)]


def bulk_written(session: Session, docs: Sequence[Document]) -> list[tuple[int, int, str]]:
    """The rows `store.upsert` would write for these new documents, in bulk; each document's id is its entity's."""
    now = utcnow()
    rows = [document_row(doc, now) for doc in docs]
    write(session, "search_document", DOCUMENT_COLUMNS, rows)
    terms = {(doc.entity_id, facet, value) for doc in docs for facet, value in store.terms_of(doc)}
    write(session, "search_term", ["doc_id", "facet", "value"], terms)
    entries = [Entry(row[0], row[3], row[4], row[5][:ENTRY_MAX_CHARS]) for row in rows]
    backend_for(session).write(session, entries)
    return [(row[0], row[2], row[13]) for row in rows]


def document_row(doc: Document, now: datetime) -> tuple[Any, ...]:
    text_hash = hashlib.md5(store.semantic_text(doc).encode(), usedforsecurity=False).hexdigest()
    metrics = [doc.metrics.get(metric, 0) for metric in METRICS]
    return (
        doc.entity_id, doc.index, doc.entity_id, store.clean(doc.name)[: store.NAME_CHARS], store.clean(doc.keywords),
        store.clean(doc.body), doc.nsfw_level, doc.user_id, doc.public, doc.created_at, doc.source_updated_at, now, 0,
        text_hash, *metrics, *(0.0 for _ in TREND_COLUMNS), store.facet_lines(store.terms_of(doc)),
    )  # fmt: skip


def write_vectors(session: Session, written: Sequence[tuple[int, int, str]], vectors: Vectors) -> None:
    model = semantic.embedder()
    now = utcnow()
    made = vectors.of([entity_id for _, entity_id, _ in written])
    rows = [
        (doc_id, "models", model.name, model.dim, encode_vector(vector), text_hash, now)
        for (doc_id, _, text_hash), vector in zip(written, made, strict=True)
    ]
    write(session, "search_embedding", EMBEDDING_COLUMNS, rows)


def write(session: Session, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """In the session's transaction: COPY on PostgreSQL, an executemany insert on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(Base.metadata.tables[table]), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    cursor = session.connection().connection.cursor()
    names = ", ".join(f'"{column}"' for column in columns)
    with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
