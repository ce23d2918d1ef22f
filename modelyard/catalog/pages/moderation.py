"""The moderators' catalog pages: the transition log and the files held by their scans."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import Role, User
from modelyard.admin.area import AdminSection
from modelyard.catalog import queries
from modelyard.catalog.files import scan_review
from modelyard.catalog.files.scan_review import ScanDecision
from modelyard.catalog.models import Model
from modelyard.core import paging
from modelyard.core.errors import AppError, ValidationFailed
from modelyard.core.http import SessionDep
from modelyard.core.params import Id, id_or_none
from modelyard.web.toolkit import PageModerator, form_failed, page, see_other

router = APIRouter(include_in_schema=False)
TRANSITIONS_PER_PAGE = 100
# Their places in the administration area (`modelyard.admin`), registered by `mount_catalog_pages`.
ADMIN_SECTIONS = (
    AdminSection(
        "held-files",
        "Held files",
        "/moderation/held-files",
        blurb="Files whose scan could not finish: clear them, scan them again, or block them.",
        order=20,
    ),
    AdminSection(
        "transitions",
        "Status log",
        "/moderation/transitions",
        icon="clock",
        blurb="Every publish, unpublish, delete and restore of models and versions: who did it, and why.",
        order=30,
    ),
)


# --- moderation -----------------------------------------------------------------------------------------------


def model_names(session: Session, model_ids: set[int]) -> dict[int, str]:
    if not model_ids:
        return {}
    rows = session.execute(select(Model.id, Model.name).where(Model.id.in_(model_ids)))
    return {model_id: name for model_id, name in rows}


@router.get("/moderation/transitions", response_class=HTMLResponse)
def transitions_page(
    request: Request,
    actor: PageModerator,
    session: SessionDep,
    model_id: Annotated[str, Query(alias="model", max_length=12)] = "",
    before: Id | None = None,
) -> Response:
    """Every status change, newest first, optionally for one model."""
    wanted = id_or_none(model_id)
    found = queries.transition_page(session, model_id=wanted, before=before, limit=TRANSITIONS_PER_PAGE)
    rows = found.items
    context = {
        "rows": rows,
        "names": model_names(session, {row.model_id for row in rows}),
        "model_filter": wanted or "",
        "next_before": rows[-1].id if found.has_next else None,
        "paged": before is not None,
        "section": "transitions",
        "is_admin": policy.has_role(actor, Role.admin),
    }
    return page(request, "catalog/transitions.html", context)


HELD_PER_PAGE = 50
HELD_FLASH = {
    ScanDecision.clear: "file-cleared",
    ScanDecision.block: "file-blocked",
    ScanDecision.rescan: "file-rescan",
}


def _held_context(session: Session, actor: User, after: int | None) -> dict[str, Any]:
    files, more = paging.take(
        scan_review.awaiting_decision(session, after=after, limit=HELD_PER_PAGE + 1), HELD_PER_PAGE
    )
    return {
        "files": files,
        "next_after": files[-1].id if more else None,
        "paged": after is not None,
        "section": "held-files",
        "is_admin": policy.has_role(actor, Role.admin),
    }


@router.get("/moderation/held-files", response_class=HTMLResponse)
def held_files_page(request: Request, actor: PageModerator, session: SessionDep, after: Id | None = None) -> Response:
    """Files held because a scan could not finish, oldest first, with what the scans said and the decisions."""
    return page(request, "catalog/held_files.html", _held_context(session, actor, after))


@router.post("/moderation/held-files/{file_id:int}", response_class=HTMLResponse)
def decide_held_file(
    request: Request,
    file_id: Id,
    actor: PageModerator,
    session: SessionDep,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """A moderator's decision on one held file; a refused one shows the list again with what went wrong."""
    try:
        if decision not in ScanDecision.__members__:
            raise ValidationFailed("Choose to clear the file, block it or scan it again", field="decision")
        scan_review.decide(session, actor, file_id, ScanDecision(decision), reason)
    except AppError as exc:
        session.rollback()
        context = _held_context(session, actor, None)
        return form_failed(request, session, "catalog/held_files.html", context, exc)
    return see_other("/moderation/held-files", done=HELD_FLASH[ScanDecision(decision)])
