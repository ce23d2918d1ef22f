"""each user's browsing level and blur preference

Revision ID: 0014_browsing_preferences
Revises: 0013_rating_game
Create Date: 2026-12-07 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import modelyard.core.db  # noqa: F401

revision: str = "0014_browsing_preferences"
down_revision: str | None = "0013_rating_game"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
