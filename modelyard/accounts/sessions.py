"""Server-side browser sessions: created on log-in, rotated on privilege change, listed and revoked by their owner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelyard.accounts.models import AuthSession, User
from modelyard.accounts.tokens import keyed_hash, new_url_token
from modelyard.core.db import affected_rows, utcnow
from modelyard.core.errors import NotFound
from modelyard.core.runtime import get_runtime

SESSION_COOKIE = "modelyard_session"
_PURPOSE = "session"
TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedSession:
    record: AuthSession
    token: str  # goes into the cookie; never stored


def _hash(token: str) -> str:
    return keyed_hash(token, purpose=_PURPOSE)


def create_session(session: Session, user: User, *, ip: str | None, user_agent: str | None) -> IssuedSession:
    token = new_url_token()
    now = utcnow()
    record = AuthSession(
        token_hash=_hash(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=get_runtime().settings.session_lifetime_days),
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(record)
    session.flush()
    return IssuedSession(record, token)


def find_active(session: Session, token: str) -> AuthSession | None:
    if not token or len(token) > 200:
        return None
    record = session.scalar(select(AuthSession).where(AuthSession.token_hash == _hash(token)))
    if record is None or record.revoked_at is not None or record.expires_at <= utcnow():
        return None
    return record


def rotate(session: Session, record: AuthSession, user: User) -> IssuedSession:
    """Replace a session's token with a new one (the old cookie stops working)."""
    record.revoked_at = utcnow()
    return create_session(session, user, ip=record.ip, user_agent=record.user_agent)


def extend(record: AuthSession) -> dict[str, object]:
    """Sliding expiry: the values to store when a session is seen again (at most every few minutes)."""
    now = utcnow()
    return {"last_seen_at": now, "expires_at": now + timedelta(days=get_runtime().settings.session_lifetime_days)}


def needs_touch(record: AuthSession) -> bool:
    return utcnow() - record.last_seen_at >= TOUCH_EVERY


def list_sessions(session: Session, user: User) -> list[AuthSession]:
    now = utcnow()
    return list(
        session.scalars(
            select(AuthSession)
            .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
            .order_by(AuthSession.last_seen_at.desc())
        )
    )


def revoke(session: Session, user: User, session_id: int) -> None:
    record = session.get(AuthSession, session_id)
    if record is None or record.user_id != user.id or record.revoked_at is not None:
        raise NotFound(f"No active session with id {session_id}")
    record.revoked_at = utcnow()


def revoke_all(session: Session, user: User, *, except_id: int | None = None) -> int:
    query = update(AuthSession).where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
    if except_id is not None:
        query = query.where(AuthSession.id != except_id)
    return affected_rows(session.execute(query.values(revoked_at=utcnow())))


def require_rotation(session: Session, user: User) -> None:
    """After a privilege change: every live session of the user gets a new token on its next request."""
    session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
        .values(rotate_required=True)
    )
