"""reports, review queues, strikes, restrictions and the moderation log

Revision ID: 0012_moderation
Revises: 0011_image_ingestion
Create Date: 2026-12-07 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.core.db

revision: str = "0012_moderation"
down_revision: str | None = "0011_image_ingestion"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OPEN_CASE = "status IN ('Pending', 'Processing')"
OPEN_ITEM = "status <> 'Done'"
REASONS = ("TOSViolation", "NSFW", "Ownership", "AdminAttention", "Claim", "CSAM", "Spam", "Automated")


def _reason() -> sa.Enum:
    return sa.Enum(*REASONS, name="reportreason", native_enum=False, length=16)


def _user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["user.id"], name=op.f(f"fk_{table}_{column}_user"), ondelete="SET NULL")


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uploads_paused_until", modelyard.core.db.UTCDateTime(), nullable=True))
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=24), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("reason", _reason(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "Pending", "Processing", "Actioned", "Unactioned", name="reportstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("claimed_by_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", modelyard.core.db.UTCDateTime(), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", modelyard.core.db.UTCDateTime(), nullable=True),
        sa.Column("resolution", sa.String(length=24), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", modelyard.core.db.UTCDateTime(), nullable=False),
        _user_fk("report", "owner_id"),
        _user_fk("report", "claimed_by_id"),
        _user_fk("report", "resolved_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report")),
    )
    op.create_index(
        "uq_report_open_entity",
        "report",
        ["entity_type", "entity_id"],
        unique=True,
        postgresql_where=sa.text(OPEN_CASE),
        sqlite_where=sa.text(OPEN_CASE),
    )
    op.create_index("ix_report_status", "report", ["status", "id"], unique=False)
    op.create_index("ix_report_entity", "report", ["entity_type", "entity_id"], unique=False)
    op.create_table(
        "report_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("reason", _reason(), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["report.id"], name=op.f("fk_report_entry_report_id_report"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["user.id"], name=op.f("fk_report_entry_reporter_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_entry")),
    )
    op.create_index("uq_report_entry_reporter", "report_entry", ["report_id", "reporter_id"], unique=True)
    op.create_index("ix_report_entry_reporter_time", "report_entry", ["reporter_id", "created_at"], unique=False)
    op.create_table(
        "review_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "queue",
            sa.Enum(
                "newUser",
                "uncertain",
                "reported",
                "appeal",
                "lookalike",
                name="reviewqueue",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("entity_type", sa.String(length=24), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("Pending", "Processing", "Done", name="reviewstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("claimed_by_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", modelyard.core.db.UTCDateTime(), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", modelyard.core.db.UTCDateTime(), nullable=True),
        sa.Column("resolution", sa.String(length=24), nullable=True),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(), nullable=False),
        _user_fk("review_item", "claimed_by_id"),
        _user_fk("review_item", "resolved_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_item")),
    )
    op.create_index(
        "uq_review_item_open",
        "review_item",
        ["queue", "entity_type", "entity_id"],
        unique=True,
        postgresql_where=sa.text(OPEN_ITEM),
        sqlite_where=sa.text(OPEN_ITEM),
    )
    op.create_index("ix_review_item_queue", "review_item", ["queue", "status", "id"], unique=False)
    op.create_table(
        "appeal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=24), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("Pending", "Upheld", "Reversed", name="appealstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", modelyard.core.db.UTCDateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_appeal_user_id_user"), ondelete="CASCADE"),
        _user_fk("appeal", "decided_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal")),
    )
    op.create_index("uq_appeal_entity_user", "appeal", ["entity_type", "entity_id", "user_id"], unique=True)
    op.create_index(op.f("ix_appeal_user_id"), "appeal", ["user_id"], unique=False)
    op.create_table(
        "strike",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", modelyard.core.db.UTCDateTime(), nullable=False),
        sa.Column("voided_at", modelyard.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_strike_user_id_user"), ondelete="CASCADE"),
        _user_fk("strike", "actor_id"),
        sa.ForeignKeyConstraint(
            ["report_id"], ["report.id"], name=op.f("fk_strike_report_id_report"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strike")),
    )
    op.create_index("ix_strike_user_expiry", "strike", ["user_id", "expires_at"], unique=False)
    op.create_table(
        "moderation_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("entity_type", sa.String(length=24), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("review_item_id", sa.Integer(), nullable=True),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(), nullable=False),
        _user_fk("moderation_log", "actor_id"),
        sa.ForeignKeyConstraint(
            ["report_id"], ["report.id"], name=op.f("fk_moderation_log_report_id_report"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_item.id"],
            name=op.f("fk_moderation_log_review_item_id_review_item"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_log")),
    )
    op.create_index("ix_moderation_log_entity", "moderation_log", ["entity_type", "entity_id", "id"], unique=False)
    op.create_index("ix_moderation_log_created", "moderation_log", ["created_at"], unique=False)
    op.create_index(op.f("ix_moderation_log_actor_id"), "moderation_log", ["actor_id"], unique=False)
    op.create_index(op.f("ix_moderation_log_report_id"), "moderation_log", ["report_id"], unique=False)


def downgrade() -> None:
    op.drop_table("moderation_log")
    op.drop_table("strike")
    op.drop_table("appeal")
    op.drop_table("review_item")
    op.drop_table("report_entry")
    op.drop_table("report")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("uploads_paused_until")
