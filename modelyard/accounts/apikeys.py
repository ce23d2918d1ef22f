"""API keys as Civitai has them: 32 hex characters, a scope bitmask, optional expiry and Buzz spending limit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts.models import ApiKey, ApiKeyType, User
from modelyard.accounts.scopes import TokenScope
from modelyard.accounts.tokens import keyed_hash, new_api_key
from modelyard.core.db import utcnow
from modelyard.core.errors import NotFound, ValidationFailed

_PURPOSE = "api-key"
TOUCH_EVERY = timedelta(minutes=5)
MAX_NAME_LENGTH = 100
_KEY_SHAPE = re.compile(r"^[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class CreatedKey:
    record: ApiKey
    key: str  # shown to the user once


def create_key(
    session: Session,
    user: User,
    *,
    name: str,
    scopes: TokenScope | None = None,
    expires_in_days: int | None = None,
    buzz_limit: dict[str, Any] | None = None,
) -> CreatedKey:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValidationFailed(f"An API key needs a name of 1 to {MAX_NAME_LENGTH} characters")
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise ValidationFailed("An API key expires after 1 to 3650 days, or never")
    if buzz_limit is not None:
        _check_buzz_limit(buzz_limit)
    key = new_api_key()
    record = ApiKey(
        key_hash=keyed_hash(key.lower(), purpose=_PURPOSE),
        name=name,
        user_id=user.id,
        type=ApiKeyType.user,
        scopes=int(scopes if scopes is not None else TokenScope.full()),
        buzz_limit=buzz_limit,
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(record)
    session.flush()
    return CreatedKey(record, key)


def _check_buzz_limit(limit: dict[str, Any]) -> None:
    amount = limit.get("limit")
    period = limit.get("period", "day")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise ValidationFailed("buzz_limit.limit must be a whole number of Buzz, 0 or more")
    if period not in ("day", "week", "month", "lifetime"):
        raise ValidationFailed("buzz_limit.period must be day, week, month or lifetime")


@dataclass(frozen=True)
class KeyCheck:
    record: ApiKey | None
    problem: str | None


def authenticate(session: Session, token: str) -> KeyCheck:
    token = token.strip()
    if not _KEY_SHAPE.match(token):
        return KeyCheck(None, "The API key is malformed")
    record = session.scalar(select(ApiKey).where(ApiKey.key_hash == keyed_hash(token.lower(), purpose=_PURPOSE)))
    if record is None:
        return KeyCheck(None, "The API key is not valid")
    if record.revoked_at is not None:
        return KeyCheck(None, "The API key has been revoked")
    if record.expires_at is not None and record.expires_at <= utcnow():
        return KeyCheck(None, "The API key has expired")
    return KeyCheck(record, None)


def needs_touch(record: ApiKey, now: datetime) -> bool:
    return record.last_used_at is None or now - record.last_used_at >= TOUCH_EVERY


def list_keys(session: Session, user: User) -> list[ApiKey]:
    return list(
        session.scalars(
            select(ApiKey)
            .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at.desc())
        )
    )


def revoke_key(session: Session, user: User, key_id: int) -> None:
    record = session.get(ApiKey, key_id)
    if record is None or record.user_id != user.id or record.revoked_at is not None:
        raise NotFound(f"No API key with id {key_id}")
    record.revoked_at = utcnow()
