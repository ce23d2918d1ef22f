"""Rebuilding an index from the database without taking it down (`modelyard search rebuild [--index NAME]`).

Every indexable entity's document is rewritten under a new generation number, a batch per transaction, while the
documents of the older generation keep answering searches. A document the applier creates meanwhile takes the
newest generation (`store.upsert`), so nothing it applies is lost. Last, documents still of an
older generation (entities no longer indexable, or never seen by the walk) are read once more and rewritten or
deleted, and whatever remains of the older generations is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from modelyard.core.runtime import Runtime
from modelyard.search import sources, store
from modelyard.search.indexer import embed, write_documents
from modelyard.search.models import SearchDocument
from modelyard.search.reconcile import repair_embeddings
from modelyard.search.sources.base import batched

log = logging.getLogger("modelyard.search")

BATCH = 500


@dataclass(frozen=True)
class Rebuilt:
    index: str
    generation: int
    documents: int  # written by the walk
    removed: int  # of older generations, gone at the end
    embedded: int


def rebuild(
    runtime: Runtime, index: str, *, batch: int = BATCH, progress: Callable[[int], None] | None = None
) -> Rebuilt:
    source = sources.source(index)
    with runtime.db.session() as session:
        generation = store.latest_generation(session, index) + 1
    written = embedded = 0
    after = 0
    while True:
        with runtime.db.session() as session:
            ids = source.ids(session, after=after, limit=batch)
        if not ids:
            break
        with runtime.db.transaction() as session:
            stored = write_documents(session, index, ids, generation=generation)
        if stored:
            with runtime.db.transaction() as session:
                embedded += embed(session, stored)
        written += len(stored)
        after = ids[-1]
        if progress is not None:
            progress(written)
    removed = _retire_older(runtime, index, generation, batch)
    embedded += repair_embeddings(runtime, index)
    log.info(
        "search index rebuilt",
        extra={"index": index, "generation": generation, "documents": written, "removed": removed},
    )
    return Rebuilt(index=index, generation=generation, documents=written, removed=removed, embedded=embedded)


def _retire_older(runtime: Runtime, index: str, generation: int, batch: int) -> int:
    with runtime.db.session() as session:
        older = list(
            session.scalars(
                select(SearchDocument.entity_id)
                .where(SearchDocument.index == index, SearchDocument.generation < generation)
                .order_by(SearchDocument.entity_id)
            )
        )
    kept = 0
    for chunk in batched(older, batch):
        with runtime.db.transaction() as session:
            kept += len(write_documents(session, index, chunk, generation=generation))
    with runtime.db.transaction() as session:
        leftover = store.delete_older_generations(session, index, generation)
    return len(older) - kept + leftover


def rebuild_all(runtime: Runtime, *, only: str | None = None) -> list[Rebuilt]:
    names = [only] if only is not None else sources.indexes()
    return [rebuild(runtime, name) for name in names]
