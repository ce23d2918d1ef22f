"""accounts: sessions, api keys, oauth, tokens, moderation, e-mail

Revision ID: 0002_accounts
Revises: 0001_foundation
Create Date: 2026-11-21 20:47:02.930892
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import modelyard.core.db

revision: str = '0002_accounts'
down_revision: str | None = '0001_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outgoing_email',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('to', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sent', 'logged', name='emailstatus', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outgoing_email'))
    )
    with op.batch_alter_table('outgoing_email', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outgoing_email_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outgoing_email_to'), ['to'], unique=False)

    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.Enum('user', 'system', 'access', 'refresh', name='apikeytype', native_enum=False, length=16), nullable=False),
    sa.Column('scopes', sa.BigInteger(), nullable=False),
    sa.Column('buzz_limit', sa.JSON(), nullable=True),
    sa.Column('created_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_api_key_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_key_key_hash'))
    )
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_user_id'), ['user_id'], unique=False)

    op.create_table('auth_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=128), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.Column('rotate_required', sa.Boolean(), nullable=False),
    sa.Column('revoked_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_auth_session_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_auth_session_token_hash'))
    )
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.create_index('ix_auth_session_user_active', ['user_id', 'revoked_at'], unique=False)

    op.create_table('moderation_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.Enum('mute', 'unmute', 'ban', 'unban', 'role', name='moderationactiontype', native_enum=False, length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('created_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_moderation_action_actor_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_moderation_action_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_action'))
    )
    with op.batch_alter_table('moderation_action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderation_action_user_id'), ['user_id'], unique=False)

    op.create_table('oauth_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('created_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_oauth_account_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_account'))
    )
    with op.batch_alter_table('oauth_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_account_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_oauth_account_provider_subject', ['provider', 'subject'], unique=True)

    op.create_table('user_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=128), nullable=False),
    sa.Column('purpose', sa.Enum('verify_email', 'reset_password', name='tokenpurpose', native_enum=False, length=24), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('created_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_user_token_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_token_token_hash'))
    )
    with op.batch_alter_table('user_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_token_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('password_changed_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('bio', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('avatar_key', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('links', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('muted_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('banned_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_login_at', modelyard.core.db.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('last_login_at')
        batch_op.drop_column('banned_at')
        batch_op.drop_column('muted_at')
        batch_op.drop_column('links')
        batch_op.drop_column('avatar_key')
        batch_op.drop_column('bio')
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('email_verified_at')

    with op.batch_alter_table('user_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_token_user_id'))

    op.drop_table('user_token')
    with op.batch_alter_table('oauth_account', schema=None) as batch_op:
        batch_op.drop_index('uq_oauth_account_provider_subject')
        batch_op.drop_index(batch_op.f('ix_oauth_account_user_id'))

    op.drop_table('oauth_account')
    with op.batch_alter_table('moderation_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderation_action_user_id'))

    op.drop_table('moderation_action')
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_session_user_active')

    op.drop_table('auth_session')
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_user_id'))

    op.drop_table('api_key')
    with op.batch_alter_table('outgoing_email', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outgoing_email_to'))
        batch_op.drop_index(batch_op.f('ix_outgoing_email_created_at'))

    op.drop_table('outgoing_email')
