"""Strikes: points against a user that expire, and the restrictions they add up to.

Points are counted when read (only strikes not expired and not voided count), so an expired strike stops counting
at once. At `strike_points_pause_uploads` active points the user's uploads are paused (`User.uploads_paused_until`,
honoured by `accounts.policy.require_can_upload`) until enough strikes expire to fall below it; at
`strike_points_mute` they are muted, and the periodic `moderation.expire_strikes` lifts that mute when the points
fall below it again (a mute a moderator gave by hand stays until a moderator lifts it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts import moderation as account_moderation
from modelyard.accounts import policy
from modelyard.accounts.models import ModerationActionType, User
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict, Forbidden, ValidationFailed
from modelyard.core.runtime import get_runtime
from modelyard.moderation import journal, notices
from modelyard.moderation.models import Strike

AUTO_MUTE_REASON = "Strikes on the account reached the mute threshold"
MAX_POINTS = 100
MAX_REASON = 2000


def give_strike(
    session: Session,
    actor: User | None,
    user: User,
    *,
    reason: str,
    points: int | None = None,
    report_id: int | None = None,
) -> Strike:
    """A strike against `user`, expiring after `strike_expiry_days`; restrictions follow at once."""
    if actor is not None and not policy.can_moderate_user(actor, user):
        raise Forbidden(f"You cannot strike {user.username}")
    settings = get_runtime().settings
    points = settings.strike_points_default if points is None else points
    if not 1 <= points <= MAX_POINTS:
        raise ValidationFailed(f"A strike is 1 to {MAX_POINTS} points", field="points")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why: a strike needs a reason", field="reason")
    if len(reason) > MAX_REASON or "\x00" in reason:
        raise ValidationFailed(f"A reason is at most {MAX_REASON} characters of text", field="reason")
    now = utcnow()
    strike = Strike(
        user_id=user.id,
        points=points,
        reason=reason,
        actor_id=actor.id if actor else None,
        report_id=report_id,
        created_at=now,
        expires_at=now + timedelta(days=settings.strike_expiry_days),
    )
    session.add(strike)
    session.flush()
    journal.record(
        session, actor, "user", user.id, "strike", reason=reason, detail={"points": points}, report_id=report_id
    )
    apply_restrictions(session, user)
    return strike


def void_strike(session: Session, actor: User, strike: Strike, *, reason: str | None = None) -> None:
    """A moderator takes a strike back (given in error): it stops counting, and restrictions are recomputed."""
    if strike.voided_at is not None:
        raise Conflict("This strike is voided already")
    strike.voided_at = utcnow()
    session.flush()
    journal.record(session, actor, "user", strike.user_id, "void_strike", reason=reason, detail={"strike": strike.id})
    user = session.get(User, strike.user_id)
    if user is not None:
        apply_restrictions(session, user)


def active_strikes(session: Session, user_id: int, now: datetime | None = None) -> list[Strike]:
    now = now or utcnow()
    query = (
        select(Strike)
        .where(Strike.user_id == user_id, Strike.voided_at.is_(None), Strike.expires_at > now)
        .order_by(Strike.expires_at.desc())
    )
    return list(session.scalars(query))


def all_strikes(session: Session, user_id: int) -> list[Strike]:
    return list(session.scalars(select(Strike).where(Strike.user_id == user_id).order_by(Strike.id.desc())))


def active_points(session: Session, user_id: int, now: datetime | None = None) -> int:
    return sum(strike.points for strike in active_strikes(session, user_id, now))


def restricted_until(strikes: list[Strike], threshold: int) -> datetime | None:
    """When the active points fall below `threshold` as these strikes expire (None: below it already). With the
    strikes latest-expiring first, the points at time t are those of the strikes expiring after t: they stay at
    or above the threshold until the first strike whose running sum reaches it expires."""
    total = 0
    for strike in sorted(strikes, key=lambda s: s.expires_at, reverse=True):
        total += strike.points
        if total >= threshold:
            return strike.expires_at
    return None


def apply_restrictions(session: Session, user: User) -> None:
    """Pause uploads and mute as the active points say; lift what strikes imposed once they no longer do."""
    settings = get_runtime().settings
    strikes = active_strikes(session, user.id)
    points = sum(strike.points for strike in strikes)
    paused_until = restricted_until(strikes, settings.strike_points_pause_uploads)
    was_paused = policy.uploads_paused(user)
    newly_restricted = False
    if paused_until != user.uploads_paused_until:
        user.uploads_paused_until = paused_until
        if paused_until is not None:
            detail = {"points": points, "until": paused_until.isoformat()}
            journal.record(session, None, "user", user.id, "pause_uploads", detail=detail)
            newly_restricted = not was_paused
        elif was_paused:
            journal.record(session, None, "user", user.id, "resume_uploads", detail={"points": points})
    if points >= settings.strike_points_mute and not user.is_muted and not user.is_banned:
        account_moderation.mute(session, None, user, reason=AUTO_MUTE_REASON)
        journal.record(session, None, "user", user.id, "auto_mute", detail={"points": points})
        newly_restricted = True
    elif points < settings.strike_points_mute and user.is_muted and _muted_by_strikes(session, user):
        account_moderation.unmute(session, None, user, reason="Strikes expired")
        journal.record(session, None, "user", user.id, "auto_unmute", detail={"points": points})
    session.flush()
    if newly_restricted:
        until = f"{paused_until:%Y-%m-%d %H:%M} UTC" if paused_until else None
        notices.tell_restricted(session, user, points=points, paused_until=until, muted=user.is_muted)


def _muted_by_strikes(session: Session, user: User) -> bool:
    """Whether the mute in force is the one strikes gave (a moderator's own mute is theirs to lift)."""
    for action in account_moderation.history(session, user):
        if action.action == ModerationActionType.mute:
            return action.actor_id is None and action.reason == AUTO_MUTE_REASON
    return False


def users_to_recheck(session: Session, *, limit: int = 500) -> list[User]:
    """Users whose restrictions may have run out: uploads paused (now or before), or muted with strikes."""
    paused = select(User).where(User.uploads_paused_until.is_not(None))
    muted = select(User).where(User.muted_at.is_not(None), User.id.in_(select(Strike.user_id)))
    found = {user.id: user for user in session.scalars(paused.limit(limit))}
    found.update({user.id: user for user in session.scalars(muted.limit(limit))})
    return list(found.values())


def expire(session: Session) -> int:
    """Recompute restrictions for users whose strikes may have expired; a pause that ran out is cleared."""
    now = utcnow()
    changed = 0
    for user in users_to_recheck(session):
        before = (user.uploads_paused_until, user.muted_at)
        apply_restrictions(session, user)
        if user.uploads_paused_until is not None and user.uploads_paused_until <= now:
            user.uploads_paused_until = None
        changed += before != (user.uploads_paused_until, user.muted_at)
    session.flush()
    return changed
