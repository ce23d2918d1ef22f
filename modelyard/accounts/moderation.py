"""Roles, mutes and bans: each recorded with who, when and why.

Other domains react to a ban through `on_user_banned` (the catalog unpublishes the user's models), registered
at import time and run inside the banning transaction, so the ban and its consequences commit together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from modelyard.accounts import policy, sessions
from modelyard.accounts.models import ModerationAction, ModerationActionType, Role, User
from modelyard.core.db import contains_pattern, utcnow
from modelyard.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from modelyard.search import outbox

BanHook = Callable[[Session, User, User, str], None]
_ban_hooks: list[BanHook] = []
MAX_REASON = 2000


def on_user_banned(hook: BanHook) -> BanHook:
    """Register `hook(session, banned_user, actor, reason)`; usable as a decorator."""
    _ban_hooks.append(hook)
    return hook


def _record(
    session: Session,
    user: User,
    actor: User | None,
    action: ModerationActionType,
    reason: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        ModerationAction(
            user_id=user.id,
            actor_id=actor.id if actor else None,
            action=action,
            reason=reason,
            detail=detail,
            created_at=utcnow(),
        )
    )


def _reason(reason: str | None, *, required: bool) -> str | None:
    reason = (reason or "").strip()
    if required and not reason:
        raise ValidationFailed("Say why: a reason is required")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"Reasons are at most {MAX_REASON} characters")
    return reason or None


def _check_actor(actor: User | None, user: User) -> None:
    if actor is not None and not policy.can_moderate_user(actor, user):
        raise Forbidden(f"You cannot moderate {user.username}")


def set_role(session: Session, actor: User | None, user: User, role: Role, *, reason: str | None = None) -> None:
    if actor is not None and not policy.can_change_role(actor, user, role):
        raise Forbidden("Only administrators change roles, and not their own")
    if user.role == role:
        return
    previous = user.role
    user.role = role
    sessions.require_rotation(session, user)
    _record(
        session,
        user,
        actor,
        ModerationActionType.role,
        _reason(reason, required=False),
        {"from": previous.value, "to": role.value},
    )


def mute(session: Session, actor: User | None, user: User, *, reason: str) -> None:
    _check_actor(actor, user)
    if user.is_muted:
        raise Conflict(f"{user.username} is muted already")
    user.muted_at = utcnow()
    _record(session, user, actor, ModerationActionType.mute, _reason(reason, required=True))


def unmute(session: Session, actor: User | None, user: User, *, reason: str | None = None) -> None:
    _check_actor(actor, user)
    if not user.is_muted:
        raise Conflict(f"{user.username} is not muted")
    user.muted_at = None
    _record(session, user, actor, ModerationActionType.unmute, _reason(reason, required=False))


def ban(session: Session, actor: User | None, user: User, *, reason: str) -> None:
    """No log-in, every session ended, API keys refused (the principal check), and each domain's ban hook."""
    _check_actor(actor, user)
    if user.is_banned:
        raise Conflict(f"{user.username} is banned already")
    text = _reason(reason, required=True) or ""
    user.banned_at = utcnow()
    sessions.revoke_all(session, user)
    _record(session, user, actor, ModerationActionType.ban, text)
    for hook in list(_ban_hooks):
        hook(session, user, actor or user, text)


def unban(session: Session, actor: User | None, user: User, *, reason: str | None = None) -> None:
    _check_actor(actor, user)
    if not user.is_banned:
        raise Conflict(f"{user.username} is not banned")
    user.banned_at = None
    _record(session, user, actor, ModerationActionType.unban, _reason(reason, required=False))
    outbox.queue(session, "users", [user.id], "update")  # findable again if something of theirs is listed


def history(session: Session, user: User) -> list[ModerationAction]:
    return list(
        session.scalars(
            select(ModerationAction).where(ModerationAction.user_id == user.id).order_by(ModerationAction.id.desc())
        )
    )


def search_users(session: Session, *, query: str = "", limit: int = 50, offset: int = 0) -> list[User]:
    statement = select(User).order_by(User.id.desc()).limit(min(limit, 200)).offset(max(offset, 0))
    query = query.strip()
    if query:
        like = contains_pattern(query)
        statement = statement.where(or_(User.username_key.like(like, escape="\\"), User.email.like(like, escape="\\")))
    return list(session.scalars(statement))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}")
    return user
