"""Documents like a given one ("similar models"): the nearest vectors to the document's own, shown only where the
search service's filters let the viewer see them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.search.models import SearchDocument
from modelyard.search.semantic.embeddings import vector_of
from modelyard.search.semantic.vectors import vector_index
from modelyard.search.types import Hit, SearchQuery

if TYPE_CHECKING:
    from modelyard.accounts.models import User

# Candidates fetched per wanted result: the first pass over-fetches this much, the second (when the viewer's
# filters left too few) ten times more.
OVERFETCH = (4, 40)


def similar(
    session: Session,
    viewer: User | None,
    index: str,
    entity_id: int,
    *,
    limit: int = 8,
    allowed_levels: int | None = None,
) -> list[Hit]:
    """Up to `limit` documents of `index` nearest to the entity's own, itself excluded, best first, each one the
    viewer may find by search (`service.allowed_docs`: levels, public or their own)."""
    from modelyard.search.service import allowed_docs

    if not 0 < entity_id < 2**31:  # no such entity, and past the column's range on PostgreSQL
        return []
    doc_id = session.execute(
        select(SearchDocument.id).where(SearchDocument.index == index, SearchDocument.entity_id == entity_id)
    ).scalar_one_or_none()
    vector = None if doc_id is None else vector_of(session, doc_id)
    if doc_id is None or vector is None or limit <= 0:
        return []
    allowed: list[tuple[int, float]] = []
    for factor in OVERFETCH:
        found = vector_index().nearest(session, index, vector, limit * factor + 1)
        scores = {candidate: score for candidate, score in found if candidate != doc_id}
        kept = allowed_docs(session, viewer, SearchQuery(index=index), list(scores), allowed_levels=allowed_levels)
        allowed = [(candidate, scores[candidate]) for candidate in kept]
        if len(allowed) >= limit or len(found) < limit * factor + 1:
            break
    allowed = allowed[:limit]
    rows = session.execute(
        select(SearchDocument.id, SearchDocument.entity_id).where(
            SearchDocument.id.in_([candidate for candidate, _score in allowed])
        )
    )
    entities = {doc_id: entity_id for doc_id, entity_id in rows}
    return [
        Hit(entity_id=entities[candidate], doc_id=candidate, score=score)
        for candidate, score in allowed
        if candidate in entities
    ]
