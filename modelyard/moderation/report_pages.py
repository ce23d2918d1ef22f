"""The pages people use: the report form `/report?type=..&id=..` (what the report dialog of `report.js` does
without JavaScript), "My reports" with where each stands, and the owner's appeal form `/appeal?type=..&id=..`.

A thing the visitor cannot see is the site's 404, as for a thing that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.core.errors import AppError, ValidationFailed
from modelyard.core.http import SessionDep
from modelyard.core.params import id_or_none
from modelyard.moderation import appeals, reports
from modelyard.moderation.models import PEOPLE_REASONS, ReportReason
from modelyard.moderation.reportables import Subject, label_of, require_subject
from modelyard.moderation.reports import MAX_DETAILS
from modelyard.web.templating import templates
from modelyard.web.toolkit import form_failed, login_required, page, register_flash, see_other

router = APIRouter(include_in_schema=False)
register_flash(
    {
        "report-filed": "Thank you: your report is filed, and a moderator will look at it.",
        "appeal-filed": "Your appeal is filed: a moderator will read it and decide.",
    }
)
Reporter = Annotated[User, Depends(login_required(TokenScope.SocialWrite, after_post="/my/reports"))]
Reader = Annotated[User, Depends(login_required(TokenScope.UserRead, after_post="/my/reports"))]
REASON_LABELS = {
    ReportReason.TOSViolation: "It breaks the site's rules",
    ReportReason.NSFW: "It is more explicit than its rating says",
    ReportReason.Ownership: "It uses someone else's work without permission",
    ReportReason.Claim: "It is my work, posted by someone else",
    ReportReason.Spam: "Spam or advertising",
    ReportReason.CSAM: "Sexual content involving minors",
    ReportReason.AdminAttention: "Something else a moderator should see",
    ReportReason.Automated: "Found by the site's own checks",
}
REPORT_PAGE = 50


def report_reasons() -> list[tuple[str, str]]:
    """The reasons people choose from, with their words (the dialog and the form read the same list)."""
    return [(reason.value, REASON_LABELS[reason]) for reason in PEOPLE_REASONS]


def _thing(session: Session, viewer: User, entity_type: str, entity_id: str) -> Subject:
    number = id_or_none(entity_id)
    return require_subject(session, viewer, entity_type.strip(), number or 0)


def _report_context(subject: Subject) -> dict[str, Any]:
    return {
        "subject": subject,
        "label": label_of(subject.entity_type),
        "reasons": report_reasons(),
        "max_details": MAX_DETAILS,
        "form": {},
    }


Kind = Annotated[str, Query(alias="type", max_length=24)]
Number = Annotated[str, Query(alias="id", max_length=12)]


@router.get("/report", response_class=HTMLResponse)
def report_form(
    request: Request, user: Reporter, session: SessionDep, kind: Kind = "", number: Number = ""
) -> Response:
    subject = _thing(session, user, kind, number)
    return page(request, "moderation/report.html", _report_context(subject))


@router.post("/report", response_class=HTMLResponse)
def file_report(
    request: Request,
    user: Reporter,
    session: SessionDep,
    entity_type: Annotated[str, Form(max_length=24)] = "",
    entity_id: Annotated[str, Form(max_length=12)] = "",
    reason: Annotated[str, Form(max_length=24)] = "",
    details: Annotated[str, Form(max_length=MAX_DETAILS)] = "",
) -> Response:
    subject = _thing(session, user, entity_type, entity_id)
    try:
        if reason not in (value for value, _ in report_reasons()):
            raise ValidationFailed("Choose a reason", field="reason")
        reports.file_report(session, user, subject.entity_type, subject.entity_id, ReportReason(reason), details)
    except AppError as exc:
        context = {**_report_context(subject), "form": {"reason": reason, "details": details}}
        return form_failed(request, session, "moderation/report.html", context, exc)
    return see_other("/my/reports", done="report-filed")


@router.get("/my/reports", response_class=HTMLResponse)
def my_reports(
    request: Request, user: Reader, session: SessionDep, before: Annotated[str, Query(max_length=12)] = ""
) -> Response:
    found = reports.my_reports(session, user, limit=REPORT_PAGE + 1, before=id_or_none(before))
    context = {
        "found": found[:REPORT_PAGE],
        "next_before": found[REPORT_PAGE - 1].entry.id if len(found) > REPORT_PAGE else None,
        "label_of": label_of,
        "reason_labels": {reason.value: words for reason, words in REASON_LABELS.items()},
    }
    return page(request, "moderation/my_reports.html", context)


def _appeal_context(session: Session, user: User, subject: Subject) -> dict[str, Any]:
    return {
        "subject": subject,
        "label": label_of(subject.entity_type),
        "appeal": appeals.find_appeal(session, user.id, subject.entity_type, subject.entity_id),
        "appealable": appeals.appealable(session, subject.entity_type, subject.entity_id),
        "is_owner": subject.owner_id == user.id,
        "max_message": appeals.MAX_MESSAGE,
        "form": {},
    }


@router.get("/appeal", response_class=HTMLResponse)
def appeal_form(
    request: Request, user: Reporter, session: SessionDep, kind: Kind = "", number: Number = ""
) -> Response:
    subject = _thing(session, user, kind, number)
    return page(request, "moderation/appeal.html", _appeal_context(session, user, subject))


@router.post("/appeal", response_class=HTMLResponse)
def file_appeal(
    request: Request,
    user: Reporter,
    session: SessionDep,
    entity_type: Annotated[str, Form(max_length=24)] = "",
    entity_id: Annotated[str, Form(max_length=12)] = "",
    message: Annotated[str, Form(max_length=appeals.MAX_MESSAGE)] = "",
) -> Response:
    subject = _thing(session, user, entity_type, entity_id)
    try:
        appeals.file_appeal(session, user, subject.entity_type, subject.entity_id, message)
    except AppError as exc:
        context = {**_appeal_context(session, user, subject), "form": {"message": message}}
        return form_failed(request, session, "moderation/appeal.html", context, exc)
    return see_other(f"/appeal?type={subject.entity_type}&id={subject.entity_id}", done="appeal-filed")


def install_report_globals() -> None:
    """What the report button macro reads (`moderation/_report.html`)."""
    templates.env.globals["report_reasons"] = report_reasons
