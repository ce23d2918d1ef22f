"""Repairing drift between the indexes and the database: the periodic reconciler.

The outbox keeps the indexes fresh; this catches whatever slipped past it (a write that queued nothing, a
document removed by hand, an embedding whose write failed). For each index it walks the source's indexable ids
and the stored documents side by side, a batch of ids at a time: an id with no document is missing, a document
whose `source_updated_at` differs from the source's is stale, a document of an id the source does not list is
extra. Each of them is rewritten from the database the way the indexer does (under the entities' locks, so a
change applied meanwhile is never undone), then documents whose embedding is missing or out of date get one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from modelyard.core.runtime import Runtime
from modelyard.search import sources
from modelyard.search.indexer import embed, write_documents
from modelyard.search.models import SearchDocument, SearchEmbedding

log = logging.getLogger("modelyard.search")

BATCH = 1000
EMBEDDING_BATCH = 200


@dataclass
class Drift:
    """What one pass found and repaired in one index."""

    missing: int = 0
    stale: int = 0
    extra: int = 0
    embeddings: int = 0

    @property
    def total(self) -> int:
        return self.missing + self.stale + self.extra + self.embeddings


def stored_stamps(session: Session, index: str, after: int, upto: int | None) -> dict[int, datetime | None]:
    """The stored documents of ids in (after, upto] (to the end when `upto` is None) and their source stamps."""
    query = select(SearchDocument.entity_id, SearchDocument.source_updated_at).where(
        SearchDocument.index == index, SearchDocument.entity_id > after
    )
    if upto is not None:
        query = query.where(SearchDocument.entity_id <= upto)
    return {entity_id: stamp for entity_id, stamp in session.execute(query)}


def reconcile_index(runtime: Runtime, index: str, *, batch: int = BATCH) -> Drift:
    source = sources.source(index)
    drift = Drift()
    after = 0
    while True:
        with runtime.db.session() as session:
            ids = source.ids(session, after=after, limit=batch)
            upto = ids[-1] if len(ids) == batch else None
            stored = stored_stamps(session, index, after, upto)
            stamps = source.stamps(session, [entity_id for entity_id in ids if entity_id in stored])
        listed = set(ids)
        missing = [entity_id for entity_id in ids if entity_id not in stored]
        stale = [entity_id for entity_id in ids if entity_id in stored and stored[entity_id] != stamps.get(entity_id)]
        extra = [entity_id for entity_id in stored if entity_id not in listed]
        _rewrite(runtime, index, [*missing, *stale, *extra])
        drift.missing += len(missing)
        drift.stale += len(stale)
        drift.extra += len(extra)
        if upto is None:
            break
        after = upto
    drift.embeddings = repair_embeddings(runtime, index)
    if drift.total:
        log.warning("search index drifted from the database; repaired", extra={"index": index, **vars(drift)})
    return drift


def _rewrite(runtime: Runtime, index: str, entity_ids: list[int]) -> None:
    if not entity_ids:
        return
    with runtime.db.transaction() as session:
        stored = write_documents(session, index, entity_ids)
    if stored:
        with runtime.db.transaction() as session:
            embed(session, stored)


def unembedded(session: Session, index: str, *, limit: int) -> list[int]:
    """Entity ids of documents with no embedding of their current text."""
    current = and_(SearchEmbedding.doc_id == SearchDocument.id, SearchEmbedding.text_hash == SearchDocument.text_hash)
    query = (
        select(SearchDocument.entity_id)
        .outerjoin(SearchEmbedding, current)
        .where(SearchDocument.index == index, SearchEmbedding.doc_id.is_(None))
        .order_by(SearchDocument.entity_id)
        .limit(limit)
    )
    return list(session.scalars(query))


def repair_embeddings(runtime: Runtime, index: str, *, batch: int = EMBEDDING_BATCH) -> int:
    """Embed the documents that lack an embedding of their current text; stops when a batch adds none (an index
    the embedder leaves out)."""
    repaired = 0
    while True:
        with runtime.db.session() as session:
            ids = unembedded(session, index, limit=batch)
        if not ids:
            return repaired
        with runtime.db.transaction() as session:
            stored = write_documents(session, index, ids)
        with runtime.db.transaction() as session:
            added = embed(session, stored)
        repaired += added
        if added == 0 or len(ids) < batch:
            return repaired


def reconcile_all(runtime: Runtime) -> dict[str, Drift]:
    return {index: reconcile_index(runtime, index) for index in sources.indexes()}
