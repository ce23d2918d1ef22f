"""search: each document's facet terms on its own row, for counting and (on PostgreSQL) filtering

`search_document.facets` holds the document's terms as `facet:value` lines, the same terms as `search_term`: a
search reads them with its matches and counts facets from what it read, instead of looking up the terms of
thousands of ids again. On PostgreSQL a GIN index on the lines as an array serves the facet filters, so a filter
and the text are combined from two indexes (and the planner has statistics for the terms). Existing documents get
their lines from `search_term`.

Revision ID: 0016_search_facets
Revises: 0015_search
Create Date: 2026-12-08 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_search_facets"
down_revision: str | None = "0015_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("search_document", sa.Column("facets", sa.Text(), nullable=False, server_default=""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE search_document AS d SET facets = t.lines FROM ("
            "SELECT doc_id, string_agg(facet || ':' || value, E'\\n' ORDER BY facet, value) AS lines "
            "FROM search_term GROUP BY doc_id) AS t WHERE d.id = t.doc_id"
        )
        op.execute(
            "CREATE INDEX ix_search_fts_facets ON search_document USING gin (string_to_array(facets, E'\\n'))"
        )
    else:
        op.execute(
            "UPDATE search_document SET facets = coalesce((SELECT group_concat(line, char(10)) FROM ("
            "SELECT facet || ':' || value AS line FROM search_term WHERE doc_id = search_document.id "
            "ORDER BY facet, value)), '')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_search_fts_facets")
    with op.batch_alter_table("search_document", schema=None) as batch_op:
        batch_op.drop_column("facets")
