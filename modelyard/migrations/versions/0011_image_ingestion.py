"""images: ingestion states, private originals, thumbnails, perceptual hashes, tags on images, resources, blocked hashes

Revision ID: 0011_image_ingestion
Revises: 0010_download_trends
Create Date: 2026-12-07 19:00:00.000000

Images stored before ingestion existed were checked and converted inside the request, and are all PG showcase
pictures: they become Scanned, at their level, with no original kept (the WebP is all there is).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.core.db

revision: str = "0011_image_ingestion"
down_revision: str | None = "0010_download_trends"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FALSE = sa.text("false")


def upgrade() -> None:
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_key", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("poster_key", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("thumbnail_widths", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("animated", sa.Boolean(), server_default=FALSE, nullable=False))
        batch_op.add_column(sa.Column("phash", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "ingestion",
                sa.Enum("Pending", "Scanned", "Blocked", "Error", name="ingestion", native_enum=False, length=16),
                server_default="Scanned",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "blocked_for",
                sa.Enum("moderated", "tos", "lookalike", "owner", name="blockedfor", native_enum=False, length=16),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("ingestion_error", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("scanned_at", modelyard.core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("nsfw_level_locked", sa.Boolean(), server_default=FALSE, nullable=False))
        batch_op.add_column(sa.Column("nsfw_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("hide_meta", sa.Boolean(), server_default=FALSE, nullable=False))
        batch_op.create_index("ix_image_user", ["user_id", "id"], unique=False)
        batch_op.create_index("ix_image_created_at", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_image_ingestion", ["ingestion", "id"], unique=False)
        batch_op.create_index("ix_image_phash", ["phash"], unique=False)
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", modelyard.core.db.UTCDateTime(), nullable=True))

    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "type",
                sa.Enum("user", "label", "moderation", name="tagtype", native_enum=False, length=16),
                server_default="user",
                nullable=False,
            )
        )
    op.create_table(
        "tag_on_image",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column(
            "source",
            sa.Enum("user", "classifier", "moderator", name="tagsource", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_tag_on_image_image_id_image"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tag.id"], name=op.f("fk_tag_on_image_tag_id_tag"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_tag_on_image_user_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("image_id", "tag_id", name=op.f("pk_tag_on_image")),
    )
    op.create_index("ix_tag_on_image_tag", "tag_on_image", ["tag_id", "image_id"], unique=False)
    op.create_table(
        "image_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("hash", sa.String(length=80), nullable=True),
        sa.Column("air", sa.String(length=300), nullable=True),
        sa.Column("strength", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_image_resource_image_id_image"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_image_resource_model_version_id_model_version"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_resource")),
    )
    op.create_index("ix_image_resource_image", "image_resource", ["image_id"], unique=False)
    op.create_index("ix_image_resource_version", "image_resource", ["model_version_id", "image_id"], unique=False)
    op.create_table(
        "blocked_image_hash",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phash", sa.BigInteger(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", modelyard.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_blocked_image_hash_image_id_image"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user.id"], name=op.f("fk_blocked_image_hash_actor_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocked_image_hash")),
    )
    op.create_index("ix_blocked_image_hash_phash", "blocked_image_hash", ["phash"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_blocked_image_hash_phash", table_name="blocked_image_hash")
    op.drop_table("blocked_image_hash")
    op.drop_index("ix_image_resource_version", table_name="image_resource")
    op.drop_index("ix_image_resource_image", table_name="image_resource")
    op.drop_table("image_resource")
    op.drop_index("ix_tag_on_image_tag", table_name="tag_on_image")
    op.drop_table("tag_on_image")
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.drop_column("type")
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_index("ix_image_phash")
        batch_op.drop_index("ix_image_ingestion")
        batch_op.drop_index("ix_image_created_at")
        batch_op.drop_index("ix_image_user")
        for column in (
            "hide_meta",
            "nsfw_score",
            "nsfw_level_locked",
            "scanned_at",
            "ingestion_error",
            "blocked_for",
            "ingestion",
            "phash",
            "animated",
            "thumbnail_widths",
            "poster_key",
            "original_key",
        ):
            batch_op.drop_column(column)
