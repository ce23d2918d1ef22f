"""Queue index changes with the transaction that causes them: `queue(session, "models", [12], "delete")`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from sqlalchemy.orm import Session

from modelyard.search.models import SearchIndexUpdate

Index = Literal["models", "images", "users", "tags", "articles", "collections", "bounties"]
Action = Literal["update", "delete"]
# Set in `Session.info` by a session that queued rows: its commit wakes the indexer (`search.indexer`).
QUEUED = "search.outbox.queued"


def queue(session: Session, index: Index, ids: Iterable[int], action: Action) -> None:
    rows = [SearchIndexUpdate(index=index, entity_id=entity_id, action=action) for entity_id in set(ids)]
    if rows:
        session.add_all(rows)
        session.info[QUEUED] = True
