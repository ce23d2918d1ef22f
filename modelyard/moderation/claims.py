"""Claiming a case or a review item: one moderator at a time works on it, and the others see who.

A claim is one conditional UPDATE, so two moderators pressing "claim" at once cannot both win: the database lets
one through and the other's WHERE no longer matches. A claim older than `moderation_claim_minutes` may be taken
over (the moderator went home); a closed one cannot be claimed at all.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict
from modelyard.core.runtime import get_runtime
from modelyard.moderation.journal import names_of
from modelyard.moderation.models import Report, ReportStatus, ReviewItem, ReviewStatus

Row = TypeVar("Row", Report, ReviewItem)


def _statuses(row_type: type[Report] | type[ReviewItem]) -> tuple[str, str]:
    if row_type is Report:
        return ReportStatus.Pending.value, ReportStatus.Processing.value
    return ReviewStatus.Pending.value, ReviewStatus.Processing.value


def claim(session: Session, row: Row, actor: User) -> Row:
    """`row` claimed by `actor` (Processing), or Conflict naming who holds it or saying it is closed."""
    row_type = type(row)
    pending, processing = _statuses(row_type)
    now = utcnow()
    stale = now - timedelta(minutes=get_runtime().settings.moderation_claim_minutes)
    claimable = or_(
        row_type.status == pending,
        and_(
            row_type.status == processing,
            or_(row_type.claimed_by_id == actor.id, row_type.claimed_at.is_(None), row_type.claimed_at < stale),
        ),
    )
    session.flush()
    result = session.execute(
        update(row_type)
        .where(row_type.id == row.id, claimable)
        .values(status=processing, claimed_by_id=actor.id, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise _refusal(session, row)
    return row


def release(session: Session, row: Row, actor: User) -> Row:
    """Give a claim back (Pending again): only its holder does."""
    pending, processing = _statuses(type(row))
    if row.status != processing or row.claimed_by_id != actor.id:
        raise Conflict("You do not hold this claim")
    row.status = pending  # type: ignore[assignment]
    row.claimed_by_id = None
    row.claimed_at = None
    session.flush()
    return row


def _refusal(session: Session, row: Report | ReviewItem) -> Conflict:
    pending, processing = _statuses(type(row))
    if row.status not in (pending, processing):
        return Conflict(f"This is closed already ({row.status.value})", status=row.status.value)
    holder = names_of(session, {row.claimed_by_id}).get(row.claimed_by_id or 0, "another moderator")
    return Conflict(f"{holder} is working on this", claimed_by=holder)
