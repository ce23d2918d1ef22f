from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.core.db import Base, UTCDateTime, utcnow


class Role(enum.StrEnum):
    user = "user"
    moderator = "moderator"
    admin = "admin"


def _enum(cls: type[enum.Enum], length: int = 24) -> Enum:
    return Enum(cls, native_enum=False, length=length, validate_strings=True)


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(40))
    # The uniqueness key: NFKC-normalised and case-folded, so "Alice" and "alice" cannot both exist. (Usernames
    # are ASCII, so no Unicode look-alike of another name gets in: see accounts.service.USERNAME_PATTERN.)
    username_key: Mapped[str] = mapped_column(String(40), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    display_name: Mapped[str | None] = mapped_column(String(80))
    bio: Mapped[str | None] = mapped_column(Text)
    avatar_key: Mapped[str | None] = mapped_column(String(300))
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    role: Mapped[Role] = mapped_column(_enum(Role, 16), default=Role.user)
    muted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set by strikes (`moderation.strikes`): no uploads (models, files, images) until then.
    uploads_paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    banned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The NSFW levels this person chose to see, a bit mask of `core.nsfw.BrowsingLevel` (`accounts.browsing`).
    browsing_level: Mapped[int] = mapped_column(Integer, default=1)
    # Blur pictures above PG-13 until clicked.
    blur_nsfw: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def is_banned(self) -> bool:
        return self.banned_at is not None

    @property
    def is_muted(self) -> bool:
        return self.muted_at is not None


class AuthSession(Base):
    """A browser log-in. The cookie holds a random token; only its keyed hash is stored."""

    __tablename__ = "auth_session"
    __table_args__ = (Index("ix_auth_session_user_active", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    # Set when the user's privileges change: the next request swaps the token (session rotation).
    rotate_required: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiKeyType(enum.StrEnum):
    user = "User"
    system = "System"
    access = "Access"
    refresh = "Refresh"


class ApiKey(Base):
    """Civitai-style API keys: 32 hex characters shown once; only a keyed hash is kept."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    type: Mapped[ApiKeyType] = mapped_column(_enum(ApiKeyType, 16), default=ApiKeyType.user)
    scopes: Mapped[int] = mapped_column(BigInteger)
    buzz_limit: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OAuthAccount(Base):
    """A log-in through an OpenID Connect provider, linked to one user."""

    __tablename__ = "oauth_account"
    __table_args__ = (Index("uq_oauth_account_provider_subject", "provider", "subject", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TokenPurpose(enum.StrEnum):
    verify_email = "verify_email"
    reset_password = "reset_password"  # noqa: S105 - a purpose, not a password


class UserToken(Base):
    """Single-use, expiring tokens sent by e-mail (verification, password reset). Stored as a keyed hash."""

    __tablename__ = "user_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    purpose: Mapped[TokenPurpose] = mapped_column(_enum(TokenPurpose))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    # The e-mail address the token was sent to: a verification token proves that address, not a later one.
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ModerationActionType(enum.StrEnum):
    mute = "mute"
    unmute = "unmute"
    ban = "ban"
    unban = "unban"
    role = "role"


class ModerationAction(Base):
    """Who did what to whom, when and why: mutes, bans and role changes."""

    __tablename__ = "moderation_action"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    action: Mapped[ModerationActionType] = mapped_column(_enum(ModerationActionType, 16))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
