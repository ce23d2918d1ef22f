"""The search domain's tables: the outbox every change writes, and the documents the indexes answer from.

`search_document` holds one row per searchable entity (a model, an image, a user, a tag; later articles,
collections, bounties), with its text in three weighted fields, the columns searches filter and sort on, and its
metrics. `search_term` holds each document's facet values (type, base model, tags, creator...), one row each, so
filters and facet counts are plain indexed SQL on both databases. `search_embedding` holds a document's text
embedding for semantic search.

The full-text structures are the database's own and live beside these tables (`search.backends`): an FTS5 table
`search_fts` (rowid = the document's id) on SQLite; on PostgreSQL the `tsv` column of `search_document`, weighted
and GIN-indexed, and a trigram index on names (`pg_trgm`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.core.db import Base, UTCDateTime, utcnow

# The sortable metrics a document carries, in `search_document` columns of the same names. Sources fill what
# their entity has; the trending job writes the `trend_*` columns.
METRICS = ("downloads", "rating", "likes", "comments", "collected", "images", "popularity")
TREND_COLUMNS = ("trend_day", "trend_week", "trend_month")


class SearchIndexUpdate(Base):
    """A change a search index must apply, written in the same transaction as the change itself (so an index
    never misses an unpublish, even across a crash), then applied and marked by the indexer."""

    __tablename__ = "search_index_update"
    __table_args__ = (Index("ix_search_index_update_pending", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[str] = mapped_column(String(20))  # models, images, users, tags (and what later domains add)
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(10))  # update, delete
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SearchDocument(Base):
    """One searchable entity as its index sees it."""

    __tablename__ = "search_document"
    __table_args__ = (
        UniqueConstraint("index", "entity_id", name="uq_search_document_entity"),
        Index("ix_search_document_created", "index", "created_at", "id"),
        Index("ix_search_document_downloads", "index", "downloads", "id"),
        Index("ix_search_document_popularity", "index", "popularity", "id"),
        Index("ix_search_document_rating", "index", "rating", "id"),
        Index("ix_search_document_likes", "index", "likes", "id"),
        Index("ix_search_document_comments", "index", "comments", "id"),
        Index("ix_search_document_collected", "index", "collected", "id"),
        Index("ix_search_document_trend_day", "index", "trend_day", "id"),
        Index("ix_search_document_trend_week", "index", "trend_week", "id"),
        Index("ix_search_document_trend_month", "index", "trend_month", "id"),
        Index("ix_search_document_user", "user_id", "index"),
        Index("ix_search_document_generation", "index", "generation"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))  # weight A: a model's name, a username, a tag
    keywords: Mapped[str] = mapped_column(Text, default="")  # weight B: tags, trigger words, creator, file names
    body: Mapped[str] = mapped_column(Text, default="")  # weight C: description, prompt (plain text)
    nsfw_level: Mapped[int] = mapped_column(Integer, default=1)  # a `core.nsfw` bit; 0 unrated (matches nothing)
    user_id: Mapped[int | None] = mapped_column(Integer)  # the creator
    public: Mapped[bool] = mapped_column(Boolean, default=True)  # False: found only by its owner and moderators
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())  # a model's first publication
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # what the reconciler compares
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    generation: Mapped[int] = mapped_column(Integer, default=0)  # the rebuild that wrote it last
    text_hash: Mapped[str] = mapped_column(String(32), default="")  # of the embedded text
    # The `search_term` rows of the document as `facet:value` lines: read with the matches to count facets.
    facets: Mapped[str] = mapped_column(Text, default="", server_default="")
    downloads: Mapped[int] = mapped_column(BigInteger, default=0)
    rating: Mapped[float] = mapped_column(Float, default=0.0)
    likes: Mapped[int] = mapped_column(Integer, default=0)
    comments: Mapped[int] = mapped_column(Integer, default=0)
    collected: Mapped[int] = mapped_column(Integer, default=0)
    images: Mapped[int] = mapped_column(Integer, default=0)
    popularity: Mapped[float] = mapped_column(Float, default=0.0)  # for entities without downloads: uses, followers
    trend_day: Mapped[float] = mapped_column(Float, default=0.0)
    trend_week: Mapped[float] = mapped_column(Float, default=0.0)
    trend_month: Mapped[float] = mapped_column(Float, default=0.0)


class SearchTerm(Base):
    """One facet value of a document: ("type", "LORA"), ("tag", "anime"), ("base_model", "SDXL 1.0")."""

    __tablename__ = "search_term"
    __table_args__ = (Index("ix_search_term_value", "facet", "value", "doc_id"),)

    doc_id: Mapped[int] = mapped_column(ForeignKey("search_document.id", ondelete="CASCADE"), primary_key=True)
    facet: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(100), primary_key=True)


class SearchEmbedding(Base):
    """A document's text embedding: float32, L2-normalised, little-endian (`dim` x 4 bytes)."""

    __tablename__ = "search_embedding"
    __table_args__ = (Index("ix_search_embedding_changed", "index", "updated_at"),)

    doc_id: Mapped[int] = mapped_column(ForeignKey("search_document.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(40))  # the embedder that made it
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    text_hash: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
