"""Reciprocal rank fusion: one ranking from several (keyword and semantic), by rank alone.

Scores of different engines (bm25, ts_rank, cosine) are not comparable; ranks are. A document's fused score is
the sum over the rankings that hold it of 1 / (k + its rank), rank 1 first (Cormack, Clarke and Buettcher,
2009); k = 60 damps the weight of the very top places.
"""

from __future__ import annotations

from collections.abc import Sequence


def rrf(rankings: Sequence[Sequence[int]], *, k: int = 60) -> list[tuple[int, float]]:
    """(doc_id, fused score), best first; equal scores keep the order in which the documents were first met."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        seen: set[int] = set()
        for rank, doc_id in enumerate(ranking, start=1):
            if doc_id in seen:  # a ranking counts a document once, at its best place
                continue
            seen.add(doc_id)
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    first_met = {doc_id: order for order, doc_id in enumerate(scores)}
    return sorted(scores.items(), key=lambda item: (-item[1], first_met[item[0]]))
