"""The administration area's own pages: its home (the sections and figures the domains registered), and the
server's background jobs and outgoing e-mail, for administrators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import Role
from modelyard.admin.area import (
    AdminSection,
    Figure,
    admin_figures,
    admin_page,
    admin_sections,
    register_admin_figures,
    register_admin_section,
)
from modelyard.core.errors import AppError
from modelyard.core.http import RuntimeDep, SessionDep
from modelyard.core.jobs import service as jobs_service
from modelyard.mail.service import recent_emails
from modelyard.web.toolkit import PageAdmin, PageModerator, register_flash, see_other

router = APIRouter(prefix="/admin", include_in_schema=False)

DEAD_JOBS_SHOWN = 100
EMAILS_SHOWN = 100
SECTIONS = (
    AdminSection(
        "jobs",
        "Jobs",
        "/admin/jobs",
        icon="briefcase",
        title="Background jobs",
        accent="jobs",
        blurb="The queue at a glance, and jobs that failed for good, ready to run again.",
        order=50,
        admins_only=True,
    ),
    AdminSection(
        "emails",
        "E-mails",
        "/admin/emails",
        icon="inbox",
        title="Outgoing e-mail",
        accent="mail",
        blurb="What the server sent, and the confirmation and reset links when no mail server is set up.",
        order=60,
        admins_only=True,
    ),
)
register_flash({"requeued": "The job is queued again with a fresh set of attempts."})


def _dead_jobs(session: Session, is_admin: bool) -> list[Figure]:
    if not is_admin:
        return []
    dead = jobs_service.count_by_status(session).get("dead", 0)
    return [Figure(dead, "dead jobs", "bad" if dead else "")]


@router.get("", response_class=HTMLResponse)
def admin_home(request: Request, actor: PageModerator, session: SessionDep) -> Response:
    is_admin = policy.has_role(actor, Role.admin)
    context = {"figures": admin_figures(session, is_admin), "cards": [s for s in admin_sections(is_admin) if s.blurb]}
    return admin_page(request, actor, "home", "admin/index.html", context)


# --- jobs -----------------------------------------------------------------------------------------------------


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
    return admin_page(request, actor, "jobs", "admin/jobs.html", _jobs_context(session, name.strip()))


@router.post("/jobs/{job_id}/requeue", response_class=HTMLResponse)
def requeue_job(request: Request, job_id: str, actor: PageAdmin, session: SessionDep) -> Response:
    try:
        jobs_service.requeue(session, job_id)
    except AppError as exc:
        session.rollback()
        context = {**_jobs_context(session, ""), "error": exc.detail}
        return admin_page(request, actor, "jobs", "admin/jobs.html", context, status_code=exc.status_code)
    return see_other("/admin/jobs", done="requeued")


# --- e-mail ---------------------------------------------------------------------------------------------------


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
    return admin_page(request, actor, "emails", "admin/emails.html", context)


def mount_admin(app: FastAPI) -> None:
    """The area's pages, its own sections and the dead-jobs figure. Mounted after the domains' pages, whose
    routes under `/admin/...` are more specific."""
    register_admin_section(*SECTIONS)
    register_admin_figures("jobs", _dead_jobs)
    app.include_router(router)
