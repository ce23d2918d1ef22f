"""The search outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.core.db import Base, UTCDateTime, utcnow


class SearchIndexUpdate(Base):
    """A change a search index must apply, written in the same transaction as the change itself (so an index
    never misses an unpublish, even across a crash), then applied and marked by the indexer."""

    __tablename__ = "search_index_update"
    __table_args__ = (Index("ix_search_index_update_pending", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[str] = mapped_column(String(20))  # models, images, collections
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(10))  # update, delete
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
