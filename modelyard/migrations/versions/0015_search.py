"""search: documents, facet terms, embeddings, and each database's own full-text index

SQLite: an FTS5 table `search_fts` (rowid = search_document.id) and its vocabulary view for spelling
corrections. PostgreSQL: a weighted `tsv` column with a GIN index, and a trigram index on names (`pg_trgm`) for
typo tolerance and prefixes. Indexes fill from the database with `modelyard search rebuild` (and the reconciler),
so no data moves here.

Revision ID: 0015_search
Revises: 0014_browsing_preferences
Create Date: 2026-12-07 22:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.core.db

revision: str = "0015_search"
down_revision: str | None = "0014_browsing_preferences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORTED = ("downloads", "popularity", "rating", "likes", "comments", "collected", "trend_day", "trend_week", "trend_month")


def upgrade() -> None:
    op.create_table(
        "search_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("index", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("nsfw_level", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source_updated_at", modelyard.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("indexed_at", modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("text_hash", sa.String(length=32), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.Float(), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("comments", sa.Integer(), nullable=False),
        sa.Column("collected", sa.Integer(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("popularity", sa.Float(), nullable=False),
        sa.Column("trend_day", sa.Float(), nullable=False),
        sa.Column("trend_week", sa.Float(), nullable=False),
        sa.Column("trend_month", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("index", "entity_id", name="uq_search_document_entity"),
    )
    with op.batch_alter_table("search_document", schema=None) as batch_op:
        batch_op.create_index("ix_search_document_created", ["index", "created_at", "id"], unique=False)
        for column in SORTED:
            batch_op.create_index(f"ix_search_document_{column}", ["index", column, "id"], unique=False)
        batch_op.create_index("ix_search_document_user", ["user_id", "index"], unique=False)
        batch_op.create_index("ix_search_document_generation", ["index", "generation"], unique=False)

    op.create_table(
        "search_term",
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.Column("facet", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["doc_id"], ["search_document.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("doc_id", "facet", "value"),
    )
    with op.batch_alter_table("search_term", schema=None) as batch_op:
        batch_op.create_index("ix_search_term_value", ["facet", "value", "doc_id"], unique=False)

    op.create_table(
        "search_embedding",
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("text_hash", sa.String(length=32), nullable=False),
        sa.Column("updated_at", modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["doc_id"], ["search_document.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("doc_id"),
    )
    with op.batch_alter_table("search_embedding", schema=None) as batch_op:
        batch_op.create_index("ix_search_embedding_changed", ["index", "updated_at"], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5(name, keywords, body, "
            "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4')"
        )
        op.execute("CREATE VIRTUAL TABLE search_fts_vocab USING fts5vocab(search_fts, 'row')")
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("ALTER TABLE search_document ADD COLUMN tsv tsvector")
        op.execute("CREATE INDEX ix_search_fts_tsv ON search_document USING gin (tsv)")
        op.execute("CREATE INDEX ix_search_fts_name_trgm ON search_document USING gin (lower(name) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_fts_vocab")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_embedding")
    op.drop_table("search_term")
    op.drop_table("search_document")
