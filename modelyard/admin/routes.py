"""The administration JSON API of the server itself (administrators): dead jobs, and e-mails held back without
SMTP. Users are administered through accounts (`/api/admin/users`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from modelyard.accounts.auth import AdminUser
from modelyard.core.http import SessionDep
from modelyard.core.jobs import service as jobs_service
from modelyard.mail.service import recent_emails

router = APIRouter(prefix="/api/admin", tags=["administration"])


class DeadJob(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    job_id: str
    name: str
    payload: dict[str, Any]
    attempts: int
    error: str
    failed_at: datetime


@router.get("/jobs/dead", response_model=list[DeadJob])
def dead_jobs(
    actor: AdminUser, session: SessionDep, limit: int = Query(100, ge=1, le=500), name: str | None = None
) -> list[DeadJob]:
    """Jobs that used up their attempts, newest first, with the error that ended them."""
    return [
        DeadJob.model_validate(letter) for letter in jobs_service.list_dead_letters(session, limit=limit, name=name)
    ]


@router.post("/jobs/{job_id}/requeue")
def requeue_job(job_id: str, actor: AdminUser, session: SessionDep) -> dict[str, str]:
    """Give a dead job a fresh set of attempts."""
    job = jobs_service.requeue(session, job_id)
    return {"job_id": job.id, "status": job.status.value}


class EmailOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    to: str
    subject: str
    body: str
    status: str
    created_at: datetime
    sent_at: datetime | None


@router.get("/emails", response_model=list[EmailOut])
def emails(
    actor: AdminUser,
    session: SessionDep,
    to: str | None = Query(None, max_length=254),
    limit: int = Query(100, ge=1, le=500),
) -> list[EmailOut]:
    """Outgoing e-mail, newest first. Without SMTP this is where verification and reset links can be read."""
    return [EmailOut.model_validate(email) for email in recent_emails(session, limit=limit, to=to)]
