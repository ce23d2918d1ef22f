"""The users section of the administration area (`modelyard.admin`): search, moderation history, mute and ban for
moderators, roles for administrators. The users' JSON API is `accounts.admin_routes`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts import moderation, policy
from modelyard.accounts.models import Role, User
from modelyard.accounts.schemas import user_status
from modelyard.admin.area import AdminSection, Figure, admin_page, register_admin_figures, register_admin_section
from modelyard.core.errors import AppError, NotFound, ValidationFailed
from modelyard.core.http import SessionDep
from modelyard.core.params import Id
from modelyard.web.toolkit import PageAdmin, PageModerator, register_flash, see_other

router = APIRouter(prefix="/admin", include_in_schema=False)

Text = Annotated[str, Form()]
USERS_PER_PAGE = 50
SECTION = AdminSection(
    "users",
    "Users",
    "/admin/users",
    icon="users",
    blurb="Find people, read their moderation history, mute or ban them; administrators change roles.",
    order=10,
)
ACTIONS = {
    "mute": (moderation.mute, "muted"),
    "unmute": (moderation.unmute, "unmuted"),
    "ban": (moderation.ban, "banned"),
    "unban": (moderation.unban, "unbanned"),
}


register_flash(
    {
        "role-changed": "The role is changed. The user's sessions pick it up on their next request.",
        "muted": "The user is muted.",
        "unmuted": "The user can post again.",
        "banned": "The user is banned and logged out everywhere.",
        "unbanned": "The ban is lifted.",
    }
)


def _user_figures(session: Session, is_admin: bool) -> list[Figure]:
    row = session.execute(
        select(func.count(), func.count(User.muted_at), func.count(User.banned_at)).select_from(User)
    ).one()
    users, muted, banned = row[0], row[1], row[2]
    return [
        Figure(users, "users"),
        Figure(muted, "muted", "warn" if muted else ""),
        Figure(banned, "banned", "bad" if banned else ""),
    ]


def join_admin_area() -> None:
    """The users section and its figures on the area's home page."""
    register_admin_section(SECTION)
    register_admin_figures("users", _user_figures)


# --- users ----------------------------------------------------------------------------------------------------


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    actor: PageModerator,
    session: SessionDep,
    q: Annotated[str, Query(max_length=100)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    offset = (page_number - 1) * USERS_PER_PAGE
    found = moderation.search_users(session, query=q, limit=USERS_PER_PAGE + 1, offset=offset)
    rows = [{"user": user, "status": user_status(user)} for user in found[:USERS_PER_PAGE]]
    context = {"q": q.strip(), "rows": rows, "page": page_number, "has_next": len(found) > USERS_PER_PAGE}
    return admin_page(request, actor, "users", "admin/users.html", context)


def _user_context(session: Session, actor: User, user: User, form: dict[str, str] | None = None) -> dict[str, Any]:
    history = moderation.history(session, user)
    actor_ids = {entry.actor_id for entry in history if entry.actor_id is not None}
    names: dict[int, str] = {}
    if actor_ids:
        rows = session.execute(select(User.id, User.username).where(User.id.in_(actor_ids)))
        names = {row.id: row.username for row in rows}
    return {
        "target": user,
        "status": user_status(user),
        "history": history,
        "actor_names": names,
        "can_moderate": policy.can_moderate_user(actor, user),
        "can_change_role": policy.can_change_role(actor, user, user.role),
        "roles": list(Role),
        "form": form or {},
    }


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: Id, actor: PageModerator, session: SessionDep) -> Response:
    user = moderation.get_user(session, user_id)
    return admin_page(request, actor, "users", "admin/user.html", _user_context(session, actor, user))


def _action_failed(
    request: Request, session: Session, actor: User, user_id: int, form: dict[str, str], error: AppError
) -> HTMLResponse:
    # Rolled back before the page is built, so it shows the user as they still are.
    session.rollback()
    user = moderation.get_user(session, user_id)
    context = {**_user_context(session, actor, user, form), "error": error.detail, "error_field": form.get("action")}
    return admin_page(request, actor, "users", "admin/user.html", context, status_code=error.status_code)


@router.post("/users/{user_id}/role", response_class=HTMLResponse)
def change_role(
    request: Request, user_id: Id, actor: PageAdmin, session: SessionDep, role: Text = "", reason: Text = ""
) -> Response:
    user = moderation.get_user(session, user_id)
    try:
        if role not in Role.__members__:
            raise ValidationFailed(f"Choose one of the roles: {', '.join(Role)}", field="role")
        moderation.set_role(session, actor, user, Role(role), reason=reason)
    except AppError as exc:
        return _action_failed(request, session, actor, user_id, {"action": "role", "reason": reason}, exc)
    return see_other(f"/admin/users/{user_id}", done="role-changed")


@router.post("/users/{user_id}/{action}", response_class=HTMLResponse)
def moderate(
    request: Request, user_id: Id, action: str, actor: PageModerator, session: SessionDep, reason: Text = ""
) -> Response:
    if action not in ACTIONS:
        raise NotFound(f"Nothing at {request.url.path}")
    act, done = ACTIONS[action]
    user = moderation.get_user(session, user_id)
    try:
        act(session, actor, user, reason=reason)
    except AppError as exc:
        return _action_failed(request, session, actor, user_id, {"action": action, "reason": reason}, exc)
    return see_other(f"/admin/users/{user_id}", done=done)
