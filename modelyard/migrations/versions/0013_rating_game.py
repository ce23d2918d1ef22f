"""the rating game: players, ratings and queued images

Revision ID: 0013_rating_game
Revises: 0012_moderation
Create Date: 2026-12-07 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.core.db

revision: str = "0013_rating_game"
down_revision: str | None = "0012_moderation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "game_player",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("exp", sa.Integer(), nullable=False),
        sa.Column("standing", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("checks_correct", sa.Integer(), nullable=False),
        sa.Column("benched_at", modelyard.core.db.UTCDateTime(), nullable=True),
        sa.Column("ticket", sa.String(length=64), nullable=True),
        sa.Column("assigned_image_id", sa.Integer(), nullable=True),
        sa.Column("assigned_check", sa.Boolean(), nullable=False),
        sa.Column("assigned_at", modelyard.core.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(), nullable=False),
        sa.Column("last_rated_at", modelyard.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_game_player_user_id_user"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["assigned_image_id"],
            ["image.id"],
            name=op.f("fk_game_player_assigned_image_id_image"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_game_player")),
    )
    op.create_index("ix_game_player_exp", "game_player", ["exp"], unique=False)
    op.create_table(
        "game_queue_item",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "decided", "undecided", "withdrawn", name="queuestatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("decided_level", sa.Integer(), nullable=True),
        sa.Column("locked_level", sa.Integer(), nullable=True),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(), nullable=False),
        sa.Column("decided_at", modelyard.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_game_queue_item_image_id_image"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_game_queue_item")),
    )
    op.create_index("ix_game_queue_item_status", "game_queue_item", ["status", "votes", "image_id"], unique=False)
    op.create_table(
        "game_rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("check", sa.Boolean(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum("Pending", "Correct", "Failed", "Inconclusive", name="ratingoutcome", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(), nullable=False),
        sa.Column("judged_at", modelyard.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_game_rating_user_id_user"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_game_rating_image_id_image"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_game_rating")),
        sa.UniqueConstraint("user_id", "image_id", name="uq_game_rating_user_image"),
    )
    op.create_index("ix_game_rating_image", "game_rating", ["image_id", "round"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_game_rating_image", table_name="game_rating")
    op.drop_table("game_rating")
    op.drop_index("ix_game_queue_item_status", table_name="game_queue_item")
    op.drop_table("game_queue_item")
    op.drop_index("ix_game_player_exp", table_name="game_player")
    op.drop_table("game_player")
