"""the rating game: players, ratings and queued images

Revision ID: 0013_rating_game
Revises: 0012_moderation
Create Date: 2026-12-07 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import modelyard.core.db  # noqa: F401

revision: str = "0013_rating_game"
down_revision: str | None = "0012_moderation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
