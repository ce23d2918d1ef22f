"""download events and daily download counts per version (and per model)

Downloads were counted inside the request, once per downloader per version per hour (`model_download`). They are
now recorded as events (`stat_event`, once per downloader per version per UTC day) and counted per day by a job
(`stat_daily`). The hours already counted become daily rows, so that each version's daily rows add up to its
`download_count` as before; the last two days' downloaders are kept as counted events, so that nobody who
downloaded today is counted again today.

Revision ID: 0010_download_trends
Revises: 0009_file_hashes
Create Date: 2026-12-07 15:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import modelyard.core.db

revision: str = "0010_download_trends"
down_revision: str | None = "0009_file_hashes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stat_event",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("entity", sa.String(length=24), nullable=False),
        sa.Column("metric", sa.String(length=24), nullable=False),
        sa.Column("entity_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("counted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("day", "entity", "metric", "entity_id", "actor", name=op.f("pk_stat_event")),
    )
    with op.batch_alter_table("stat_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stat_event_uncounted",
            ["day"],
            unique=False,
            postgresql_where=sa.text("NOT counted"),
            sqlite_where=sa.text("counted = 0"),
        )
    op.create_table(
        "stat_daily",
        sa.Column("entity", sa.String(length=24), nullable=False),
        sa.Column("metric", sa.String(length=24), nullable=False),
        sa.Column("entity_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "metric", "entity_id", "day", name=op.f("pk_stat_daily")),
    )
    with op.batch_alter_table("stat_daily", schema=None) as batch_op:
        batch_op.create_index("ix_stat_daily_period", ["entity", "metric", "day", "entity_id", "count"], unique=False)
    carry_counted_downloads(op.get_bind(), datetime.now(UTC))
    with op.batch_alter_table("model_download", schema=None) as batch_op:
        batch_op.drop_index("ix_model_download_hour")
    op.drop_table("model_download")


def carry_counted_downloads(connection: sa.Connection, now: datetime) -> None:
    """The hours counted in `model_download` as daily rows (versions and models), and the downloaders of the day
    before `now` and since as counted events (so that none of them is counted again today)."""
    day = "date(d.hour)" if connection.dialect.name == "sqlite" else "CAST(d.hour AT TIME ZONE 'UTC' AS DATE)"
    connection.execute(
        sa.text(
            "INSERT INTO stat_daily (entity, metric, entity_id, day, count)"
            f" SELECT 'model_version', 'downloads', d.model_version_id, {day}, count(*) FROM model_download d"
            f" GROUP BY d.model_version_id, {day}"
        )
    )
    connection.execute(
        sa.text(
            "INSERT INTO stat_daily (entity, metric, entity_id, day, count)"
            f" SELECT 'model', 'downloads', v.model_id, {day}, count(*) FROM model_download d"
            f" JOIN model_version v ON v.id = d.model_version_id GROUP BY v.model_id, {day}"
        )
    )
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = modelyard.core.db.UTCDateTime().process_bind_param(midnight - timedelta(days=1), connection.dialect)
    connection.execute(
        sa.text(
            "INSERT INTO stat_event (day, entity, metric, entity_id, actor, counted)"
            f" SELECT DISTINCT {day}, 'model_version', 'downloads', d.model_version_id, d.downloader, :counted"
            " FROM model_download d WHERE d.hour >= :since"
        ).bindparams(sa.bindparam("since", since), sa.bindparam("counted", True))
    )


def downgrade() -> None:
    # The hourly rows cannot be rebuilt from daily counts; the all-time counters stay on the models and versions.
    op.create_table(
        "model_download",
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("downloader", sa.String(length=40), nullable=False),
        sa.Column("hour", modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_model_download_model_version_id_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_version_id", "downloader", "hour", name=op.f("pk_model_download")),
    )
    with op.batch_alter_table("model_download", schema=None) as batch_op:
        batch_op.create_index("ix_model_download_hour", ["hour"], unique=False)
    with op.batch_alter_table("stat_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_stat_daily_period")
    op.drop_table("stat_daily")
    with op.batch_alter_table("stat_event", schema=None) as batch_op:
        batch_op.drop_index("ix_stat_event_uncounted")
    op.drop_table("stat_event")
