"""The moderation log: every decision, written where it is taken, read on the case pages and the log page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.core.db import utcnow
from modelyard.moderation.models import ModerationLog

LOG_PAGE = 100


def record(
    session: Session,
    actor: User | None,
    entity_type: str,
    entity_id: int,
    action: str,
    *,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    report_id: int | None = None,
    review_item_id: int | None = None,
) -> ModerationLog:
    """One line of the log; `actor` None for the system (automatic restrictions, expiry)."""
    entry = ModerationLog(
        actor_id=actor.id if actor else None,
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        reason=reason,
        detail=detail,
        report_id=report_id,
        review_item_id=review_item_id,
        created_at=utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


def entries(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: int | None = None,
    actor_id: int | None = None,
    action: str | None = None,
    before: int | None = None,
    limit: int = LOG_PAGE,
) -> list[ModerationLog]:
    """The log, newest first, filtered; `before` an id to page on from."""
    query = select(ModerationLog).order_by(ModerationLog.id.desc()).limit(limit)
    if entity_type:
        query = query.where(ModerationLog.entity_type == entity_type)
    if entity_id is not None:
        query = query.where(ModerationLog.entity_id == entity_id)
    if actor_id is not None:
        query = query.where(ModerationLog.actor_id == actor_id)
    if action:
        query = query.where(ModerationLog.action == action)
    if before is not None:
        query = query.where(ModerationLog.id < before)
    return list(session.scalars(query))


def of_thing(session: Session, entity_type: str, entity_id: int) -> list[ModerationLog]:
    """Everything done about one thing, its cases and review items included, oldest first."""
    query = (
        select(ModerationLog)
        .where(ModerationLog.entity_type == entity_type, ModerationLog.entity_id == entity_id)
        .order_by(ModerationLog.id)
    )
    return list(session.scalars(query))


def names_of(session: Session, user_ids: set[int | None]) -> dict[int, str]:
    """Usernames for the ids a page shows (actors, reporters, claimers)."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {user_id: username for user_id, username in rows}
