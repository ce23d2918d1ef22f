"""foundation: users, jobs, dead letters

Revision ID: 0001_foundation
Revises: (none)
Create Date: 2026-11-21 20:12:51.149136
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.core.db

revision: str = '0001_foundation'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('job',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'running', 'succeeded', 'dead', name='jobstatus', native_enum=False, length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('run_after', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', modelyard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_job_dedupe_key'))
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_name'), ['name'], unique=False)
        batch_op.create_index('ix_job_status_run_after', ['status', 'run_after'], unique=False)

    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=40), nullable=False),
    sa.Column('username_key', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('display_name', sa.String(length=80), nullable=True),
    sa.Column('role', sa.Enum('user', 'moderator', 'admin', name='role', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user')),
    sa.UniqueConstraint('email', name=op.f('uq_user_email')),
    sa.UniqueConstraint('username_key', name=op.f('uq_user_username_key'))
    )
    op.create_table('job_dead_letter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('traceback', sa.Text(), nullable=True),
    sa.Column('failed_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['job.id'], name=op.f('fk_job_dead_letter_job_id_job'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_dead_letter')),
    sa.UniqueConstraint('job_id', name=op.f('uq_job_dead_letter_job_id'))
    )
    with op.batch_alter_table('job_dead_letter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_dead_letter_failed_at'), ['failed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_dead_letter_name'), ['name'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('job_dead_letter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_dead_letter_name'))
        batch_op.drop_index(batch_op.f('ix_job_dead_letter_failed_at'))

    op.drop_table('job_dead_letter')
    op.drop_table('user')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index('ix_job_status_run_after')
        batch_op.drop_index(batch_op.f('ix_job_name'))

    op.drop_table('job')
