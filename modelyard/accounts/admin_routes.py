"""The users' administration JSON API: search, moderation history, role, mute and ban. The server's own (dead
jobs, e-mail) is `modelyard.admin.routes`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from modelyard.accounts import moderation
from modelyard.accounts.auth import AdminUser, ModeratorUser
from modelyard.accounts.schemas import AdminUser as AdminUserOut
from modelyard.accounts.schemas import ModerationEntry, ModerationIn, RoleChange
from modelyard.core.errors import ValidationFailed
from modelyard.core.http import SessionDep
from modelyard.core.params import ID_MAX, Id

router = APIRouter(prefix="/api/admin", tags=["administration"])


@router.get("/users", response_model=list[AdminUserOut])
def search_users(
    actor: ModeratorUser,
    session: SessionDep,
    q: str = Query("", max_length=100, description="Part of a username or e-mail address"),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=ID_MAX),
) -> list[AdminUserOut]:
    """Find users (moderators and administrators)."""
    return [AdminUserOut.of(user) for user in moderation.search_users(session, query=q, limit=limit, offset=offset)]


class UserDetail(BaseModel):
    user: AdminUserOut
    history: list[ModerationEntry]


@router.get("/users/{user_id}", response_model=UserDetail)
def get_user(user_id: Id, actor: ModeratorUser, session: SessionDep) -> UserDetail:
    """One user and every moderation action taken on them."""
    user = moderation.get_user(session, user_id)
    history = [ModerationEntry.model_validate(entry) for entry in moderation.history(session, user)]
    return UserDetail(user=AdminUserOut.of(user), history=history)


@router.post("/users/{user_id}/role", response_model=AdminUserOut)
def change_role(user_id: Id, body: RoleChange, actor: AdminUser, session: SessionDep) -> AdminUserOut:
    """Make a user a moderator or administrator, or back (administrators)."""
    user = moderation.get_user(session, user_id)
    moderation.set_role(session, actor, user, body.role, reason=body.reason)
    return AdminUserOut.of(user)


def _act(action: str, user_id: int, body: ModerationIn, actor: Any, session: Any) -> AdminUserOut:
    user = moderation.get_user(session, user_id)
    if action in ("mute", "ban") and not (body.reason or "").strip():
        raise ValidationFailed(f"Say why you {action} {user.username}: a reason is required", field="reason")
    getattr(moderation, action)(session, actor, user, reason=body.reason)
    return AdminUserOut.of(user)


@router.post("/users/{user_id}/mute", response_model=AdminUserOut)
def mute(user_id: Id, body: ModerationIn, actor: ModeratorUser, session: SessionDep) -> AdminUserOut:
    """Stop a user from posting (they can still log in and read)."""
    return _act("mute", user_id, body, actor, session)


@router.post("/users/{user_id}/unmute", response_model=AdminUserOut)
def unmute(user_id: Id, body: ModerationIn, actor: ModeratorUser, session: SessionDep) -> AdminUserOut:
    """Let a muted user post again."""
    return _act("unmute", user_id, body, actor, session)


@router.post("/users/{user_id}/ban", response_model=AdminUserOut)
def ban(user_id: Id, body: ModerationIn, actor: ModeratorUser, session: SessionDep) -> AdminUserOut:
    """Ban a user: no log-in, sessions ended, API keys refused, their models unpublished."""
    return _act("ban", user_id, body, actor, session)


@router.post("/users/{user_id}/unban", response_model=AdminUserOut)
def unban(user_id: Id, body: ModerationIn, actor: ModeratorUser, session: SessionDep) -> AdminUserOut:
    """Lift a ban (the user's models stay unpublished until they publish them again)."""
    return _act("unban", user_id, body, actor, session)
