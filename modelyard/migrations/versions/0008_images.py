"""images: blurhash for every image, stable public image addresses

Revision ID: 0008_images
Revises: 0007_download_counts
Create Date: 2026-12-07 15:30:00.000000

Images are found by their content address (`/media/<storage key>`, `images.media`), and the BlurHash backfill
finds the images still without one through a partial index. The backfill itself is the periodic job
`images.fill_blurhashes` (`images.upkeep`): decoding a stored picture takes tens of milliseconds, too long to
do for every image of a large site inside a migration that holds up start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_images"
down_revision: str | None = "0007_download_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.create_index("ix_image_storage_key", ["storage_key"], unique=False)
        batch_op.create_index(
            "ix_image_blurhash_missing",
            ["id"],
            unique=False,
            postgresql_where=sa.text("blurhash IS NULL"),
            sqlite_where=sa.text("blurhash IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_index("ix_image_blurhash_missing")
        batch_op.drop_index("ix_image_storage_key")
