"""Stored embeddings: one `search_embedding` row per document, written in the indexer's transaction.

A vector is float32 little-endian bytes, L2-normalised, tagged with the embedder that made it and the hash of the
text it was made from, so a document is embedded again only when its text changes or the embedder does.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from modelyard.core.db import on_commit, utcnow
from modelyard.search.models import SearchEmbedding
from modelyard.search.semantic.embedders import MAX_PASSAGE_CHARS, clean_text, embedder
from modelyard.search.semantic.vectors import vector_index

WRITE_BATCH = 500


class StoredText(Protocol):
    """What the document store reports of a document it wrote (`search.store.Stored`)."""

    @property
    def doc_id(self) -> int: ...
    @property
    def index(self) -> str: ...
    @property
    def semantic_text(self) -> str: ...
    @property
    def text_hash(self) -> str: ...
    @property
    def text_changed(self) -> bool: ...


@dataclass(frozen=True)
class Embedded:
    """The embeddings some documents are due, made and not yet written: the rows to write and the documents
    whose text is now empty (their vector goes)."""

    rows: list[dict[str, Any]]
    blank: list[int]
    indexes: set[str]

    @property
    def doc_ids(self) -> list[int]:
        return [row["doc_id"] for row in self.rows] + self.blank

    def only(self, doc_ids: Collection[int]) -> Embedded:
        return Embedded(
            [row for row in self.rows if row["doc_id"] in doc_ids],
            [doc_id for doc_id in self.blank if doc_id in doc_ids],
            self.indexes,
        )


def embed_stored(session: Session, stored: Sequence[StoredText]) -> int:
    """Embed the documents whose text changed, or whose stored vector is missing or another embedder's, and
    write their rows; a document with no text loses its vector. Returns how many were embedded."""
    return write_embedded(session, make_embeddings(session, stored))


def make_embeddings(session: Session, stored: Sequence[StoredText]) -> Embedded:
    """The embeddings `stored` is due (the documents whose text changed, or whose stored vector is missing or
    another embedder's), made by the model: the session only reads, so no write lock is held while it runs."""
    model = embedder()
    latest = {entry.doc_id: entry for entry in stored}
    current = _current_embeddings(session, list(latest))
    due = [
        entry
        for entry in latest.values()
        if entry.text_changed or current.get(entry.doc_id) != (model.name, entry.text_hash)
    ]
    texts = {entry.doc_id: clean_text(entry.semantic_text, MAX_PASSAGE_CHARS) for entry in due}
    blank = [entry.doc_id for entry in due if not texts[entry.doc_id] and entry.doc_id in current]
    to_embed = [entry for entry in due if texts[entry.doc_id]]
    rows: list[dict[str, Any]] = []
    if to_embed:
        vectors = model.passages([texts[entry.doc_id] for entry in to_embed])
        now = utcnow()
        rows = [
            {
                "doc_id": entry.doc_id,
                "index": entry.index,
                "model": model.name,
                "dim": model.dim,
                "vector": encode_vector(vector),
                "text_hash": entry.text_hash,
                "updated_at": now,
            }
            for entry, vector in zip(to_embed, vectors, strict=True)
        ]
    return Embedded(rows, blank, {entry.index for entry in due})


def write_embedded(session: Session, embedded: Embedded) -> int:
    """Write what `make_embeddings` made, in the caller's transaction. Returns how many vectors were written."""
    if embedded.blank:
        session.execute(delete(SearchEmbedding).where(SearchEmbedding.doc_id.in_(embedded.blank)))
    for start in range(0, len(embedded.rows), WRITE_BATCH):
        session.execute(_upsert(session, embedded.rows[start : start + WRITE_BATCH]))
    for index in embedded.indexes:
        on_commit(session, partial(_announce_change, index))
    return len(embedded.rows)


def vector_of(session: Session, doc_id: int) -> np.ndarray | None:
    """The document's stored vector, if the current embedder made it."""
    if not 0 < doc_id < 2**31:
        return None
    model = embedder()
    row = session.execute(
        select(SearchEmbedding.vector).where(
            SearchEmbedding.doc_id == doc_id, SearchEmbedding.model == model.name, SearchEmbedding.dim == model.dim
        )
    ).scalar_one_or_none()
    return None if row is None else decode_vector(row, model.dim)


def encode_vector(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def decode_vector(data: bytes, dim: int) -> np.ndarray | None:
    if len(data) != dim * 4:
        return None
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def _announce_change(index: str) -> None:
    vector_index().changed(index)


def _current_embeddings(session: Session, doc_ids: list[int]) -> dict[int, tuple[str, str]]:
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(doc_ids), WRITE_BATCH):
        chunk = doc_ids[start : start + WRITE_BATCH]
        rows = session.execute(
            select(SearchEmbedding.doc_id, SearchEmbedding.model, SearchEmbedding.text_hash).where(
                SearchEmbedding.doc_id.in_(chunk)
            )
        )
        found.update({doc_id: (model, text_hash) for doc_id, model, text_hash in rows})
    return found


def _upsert(session: Session, rows: list[dict[str, Any]]) -> Any:
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SearchEmbedding).values(rows)
    columns = ("index", "model", "dim", "vector", "text_hash", "updated_at")
    return insert.on_conflict_do_update(
        index_elements=[SearchEmbedding.doc_id], set_={column: insert.excluded[column] for column in columns}
    )
