"""flags: feature flags and exposure counts

Revision ID: 0003_flags
Revises: 0002_accounts
Create Date: 2026-11-21 20:52:59.187662
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.core.db

revision: str = '0003_flags'
down_revision: str | None = '0002_accounts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('flag_exposure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('flag_name', sa.String(length=64), nullable=False),
    sa.Column('variant', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flag_exposure')),
    sa.UniqueConstraint('flag_name', 'variant', 'day', name=op.f('uq_flag_exposure_flag_name_variant_day'))
    )
    op.create_table('feature_flag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('everyone', sa.Boolean(), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('user_ids', sa.JSON(), nullable=False),
    sa.Column('percentage', sa.Integer(), nullable=False),
    sa.Column('variants', sa.JSON(), nullable=True),
    sa.Column('created_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_feature_flag_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feature_flag')),
    sa.UniqueConstraint('name', name=op.f('uq_feature_flag_name'))
    )


def downgrade() -> None:
    op.drop_table('feature_flag')
    op.drop_table('flag_exposure')
