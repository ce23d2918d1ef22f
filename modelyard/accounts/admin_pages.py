"""Administration pages: users (search, role, mute, ban) for moderators; background jobs and outgoing e-mail
for administrators. Feature flags live at /admin/flags (modelyard.flags.pages)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts import moderation, policy
from modelyard.accounts.models import Role, User
from modelyard.accounts.page_support import PageAdmin, PageModerator, page, see_other
from modelyard.accounts.schemas import user_status
from modelyard.core.errors import AppError, NotFound, ValidationFailed
from modelyard.core.http import RuntimeDep, SessionDep
from modelyard.core.jobs import service as jobs_service
from modelyard.core.params import Id
from modelyard.mail.service import recent_emails

router = APIRouter(prefix="/admin", include_in_schema=False)

Text = Annotated[str, Form()]
USERS_PER_PAGE = 50
DEAD_JOBS_SHOWN = 100
EMAILS_SHOWN = 100
ACTIONS = {
    "mute": (moderation.mute, "muted"),
    "unmute": (moderation.unmute, "unmuted"),
    "ban": (moderation.ban, "banned"),
    "unban": (moderation.unban, "unbanned"),
}


def _admin_page(
    request: Request, actor: User, section: str, template: str, context: dict[str, Any], **options: Any
) -> HTMLResponse:
    base = {"actor": actor, "section": section, "is_admin": policy.has_role(actor, Role.admin)}
    return page(request, template, {**base, **context}, **options)


def _user_counts(session: Session) -> dict[str, int]:
    row = session.execute(
        select(func.count(), func.count(User.muted_at), func.count(User.banned_at)).select_from(User)
    ).one()
    return {"users": row[0], "muted": row[1], "banned": row[2]}


@router.get("", response_class=HTMLResponse)
def admin_home(request: Request, actor: PageModerator, session: SessionDep) -> Response:
    is_admin = policy.has_role(actor, Role.admin)
    context = {
        "counts": _user_counts(session),
        "job_counts": jobs_service.count_by_status(session) if is_admin else None,
    }
    return _admin_page(request, actor, "home", "admin/index.html", context)


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
    return _admin_page(request, actor, "users", "admin/users.html", context)


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
    return _admin_page(request, actor, "users", "admin/user.html", _user_context(session, actor, user))


def _action_failed(
    request: Request, session: Session, actor: User, user_id: int, form: dict[str, str], error: AppError
) -> HTMLResponse:
    # Rolled back before the page is built, so it shows the user as they still are.
    session.rollback()
    user = moderation.get_user(session, user_id)
    context = {**_user_context(session, actor, user, form), "error": error.detail, "error_field": form.get("action")}
    return _admin_page(request, actor, "users", "admin/user.html", context, status_code=error.status_code)


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


# --- jobs and e-mail (administrators) -------------------------------------------------------------------------


def _jobs_context(session: Session, name: str) -> dict[str, Any]:
    return {
        "job_counts": jobs_service.count_by_status(session),
        "dead": jobs_service.list_dead_letters(session, limit=DEAD_JOBS_SHOWN, name=name or None),
        "name": name,
    }


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request, actor: PageAdmin, session: SessionDep, name: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    return _admin_page(request, actor, "jobs", "admin/jobs.html", _jobs_context(session, name.strip()))


@router.post("/jobs/{job_id}/requeue", response_class=HTMLResponse)
def requeue_job(request: Request, job_id: str, actor: PageAdmin, session: SessionDep) -> Response:
    try:
        jobs_service.requeue(session, job_id)
    except AppError as exc:
        session.rollback()
        context = {**_jobs_context(session, ""), "error": exc.detail}
        return _admin_page(request, actor, "jobs", "admin/jobs.html", context, status_code=exc.status_code)
    return see_other("/admin/jobs", done="requeued")


@router.get("/emails", response_class=HTMLResponse)
def emails_page(
    request: Request,
    actor: PageAdmin,
    session: SessionDep,
    runtime: RuntimeDep,
    to: Annotated[str, Query(max_length=254)] = "",
) -> Response:
    """Without SMTP, e-mails are only logged: this is where an administrator reads a verification or reset link."""
    context = {
        "emails": recent_emails(session, limit=EMAILS_SHOWN, to=to.strip() or None),
        "to": to.strip(),
        "mail_configured": runtime.settings.smtp_host is not None,
    }
    return _admin_page(request, actor, "emails", "admin/emails.html", context)
