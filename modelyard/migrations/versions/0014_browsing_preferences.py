"""each user's browsing level and blur preference

Everyone starts where new users start: PG only, NSFW pictures blurred.

Revision ID: 0014_browsing_preferences
Revises: 0013_rating_game
Create Date: 2026-12-07 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.core.db  # noqa: F401

revision: str = "0014_browsing_preferences"
down_revision: str | None = "0013_rating_game"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("browsing_level", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("blur_nsfw", sa.Boolean(), server_default=sa.text("true"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("blur_nsfw")
        batch_op.drop_column("browsing_level")
