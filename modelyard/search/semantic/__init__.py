"""Semantic search: text embeddings, stored per document, and the vector index that finds the nearest ones.

`embedder()` turns text into vectors (a model shipped inside a package, loaded once per process);
`embed_stored()` writes a document's vector when its text changes; `nearest()` answers by cosine similarity;
`rrf()` fuses a keyword ranking with a semantic one; `similar()` finds documents like a given one.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from sqlalchemy.orm import Session

from modelyard.search.semantic.embedders import Embedder, embedder, min_score
from modelyard.search.semantic.embeddings import Embedded, embed_stored, make_embeddings, vector_of, write_embedded
from modelyard.search.semantic.fusion import rrf
from modelyard.search.semantic.similar import similar
from modelyard.search.semantic.vectors import VectorIndex, forget_all, vector_index

__all__ = [
    "Embedded",
    "Embedder",
    "VectorIndex",
    "drop_process_caches",
    "embed_stored",
    "embedder",
    "make_embeddings",
    "min_score",
    "nearest",
    "rrf",
    "similar",
    "vector_index",
    "vector_of",
    "write_embedded",
]


def nearest(
    session: Session, index: str, vector: np.ndarray, k: int, *, among: Collection[int] | None = None
) -> list[tuple[int, float]]:
    """The `k` documents of `index` whose vectors are closest to `vector`: (doc_id, cosine), best first; with
    `among`, only those doc ids. No floor: compare with `min_score()` for a query's semantic-only candidates."""
    return vector_index().nearest(session, index, vector, k, among=among)


def drop_process_caches() -> None:
    """Forget what this process holds in memory (the vectors it loaded): the database was emptied or restored."""
    forget_all()
