"""Filing reports, and the cases they make.

A report joins the open case of its thing, or opens one: repeated reports of one thing are one case, with
everyone who reported it (`Report.report_count`, one `ReportEntry` each). A reporter must be able to see what they
report (otherwise it is a 404, as for what does not exist), cannot report their own things, files one report per
open case, and at most `reports_per_hour` reports an hour: a flood from one account stops there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from modelyard.core.params import ID_MAX
from modelyard.core.runtime import get_runtime
from modelyard.moderation.models import OPEN_STATUSES, Report, ReportEntry, ReportReason, ReportStatus
from modelyard.moderation.reportables import Subject, label_of, require_subject

MAX_DETAILS = 2000
FLOOD_WINDOW = timedelta(hours=1)


def clean_details(details: str | None) -> str | None:
    details = (details or "").strip()
    if "\x00" in details:
        raise ValidationFailed("Details cannot contain NUL characters", field="details")
    if len(details) > MAX_DETAILS:
        raise ValidationFailed(f"Details are at most {MAX_DETAILS} characters", field="details")
    return details or None


def file_report(
    session: Session,
    reporter: User,
    entity_type: str,
    entity_id: int,
    reason: ReportReason,
    details: str | None,
) -> Report:
    """File `reporter`'s report of a thing they can see; returns its case (new or joined)."""
    if reporter.is_banned:
        raise Forbidden("This account is banned")
    reason = ReportReason(reason)
    if reason == ReportReason.Automated:
        raise ValidationFailed("Automated reports are filed by the system", field="reason")
    details = clean_details(details)
    subject = require_subject(session, reporter, entity_type, entity_id)
    if subject.owner_id == reporter.id:
        raise Forbidden(f"You cannot report your own {label_of(entity_type).lower()}")
    _check_flood(session, reporter)
    case, opened = _open_case(session, subject, reason)
    if not opened and _has_reported(session, case, reporter.id):
        raise _already(case)
    try:
        with session.begin_nested():
            session.add(
                ReportEntry(
                    report_id=case.id, reporter_id=reporter.id, reason=reason, details=details, created_at=utcnow()
                )
            )
            session.flush()
    except IntegrityError:
        raise _already(case) from None
    if not opened:
        case.report_count = Report.report_count + 1
        case.updated_at = utcnow()
        session.flush()
        session.refresh(case)
    return case


def file_system_report(session: Session, subject: Subject, details: str | None = None) -> Report:
    """A report the system files (a rule matched): it joins or opens the case like anyone's, with no reporter."""
    case, opened = _open_case(session, subject, ReportReason.Automated)
    session.add(ReportEntry(report_id=case.id, reporter_id=None, reason=ReportReason.Automated, details=details))
    if not opened:
        case.report_count = Report.report_count + 1
    session.flush()
    session.refresh(case)
    return case


def _already(case: Report) -> Conflict:
    return Conflict("You have reported this already; a moderator will look at it", report_id=case.id)


def _check_flood(session: Session, reporter: User) -> None:
    limit = get_runtime().settings.reports_per_hour
    since = utcnow() - FLOOD_WINDOW
    recent = select(ReportEntry.created_at).where(
        ReportEntry.reporter_id == reporter.id, ReportEntry.created_at > since
    )
    count = session.scalar(select(func.count()).select_from(recent.subquery())) or 0
    if count < limit:
        return
    oldest = session.scalar(recent.order_by(ReportEntry.created_at).limit(1))
    wait = int(((oldest or utcnow()) + FLOOD_WINDOW - utcnow()).total_seconds()) + 1
    raise RateLimited(
        f"You have filed {limit} reports in the last hour; try again later",
        headers={"Retry-After": str(max(wait, 1))},
    )


def _open_case(session: Session, subject: Subject, reason: ReportReason) -> tuple[Report, bool]:
    """The thing's open case, or a new one. Two first reports at once both end in one case: the loser's insert
    meets the unique index of open cases, and it joins the winner's."""
    found = open_case_of(session, subject.entity_type, subject.entity_id)
    if found is not None:
        return found, False
    try:
        with session.begin_nested():
            now = utcnow()
            case = Report(
                entity_type=subject.entity_type,
                entity_id=subject.entity_id,
                owner_id=subject.owner_id,
                reason=reason,
                status=ReportStatus.Pending,
                report_count=1,
                created_at=now,
                updated_at=now,
            )
            session.add(case)
            session.flush()
        return case, True
    except IntegrityError:
        found = open_case_of(session, subject.entity_type, subject.entity_id)
        if found is None:
            raise
        return found, False


def open_case_of(session: Session, entity_type: str, entity_id: int) -> Report | None:
    return session.scalar(
        select(Report).where(
            Report.entity_type == entity_type, Report.entity_id == entity_id, Report.status.in_(OPEN_STATUSES)
        )
    )


def _has_reported(session: Session, case: Report, reporter_id: int) -> bool:
    query = select(ReportEntry.id).where(ReportEntry.report_id == case.id, ReportEntry.reporter_id == reporter_id)
    return session.scalar(query) is not None


# --- reading ------------------------------------------------------------------------------------------------------


def get_case(session: Session, case_id: int) -> Report:
    case = session.get(Report, case_id) if 0 < case_id <= ID_MAX else None
    if case is None:
        raise NotFound(f"No report with id {case_id}")
    return case


def entries_of(session: Session, case: Report) -> list[ReportEntry]:
    return list(session.scalars(select(ReportEntry).where(ReportEntry.report_id == case.id).order_by(ReportEntry.id)))


@dataclass(frozen=True)
class MyReport:
    """A reporter's own report and the state of its case: all a reporter is told."""

    entry: ReportEntry
    case: Report


def my_reports(session: Session, reporter: User, *, limit: int = 50, before: int | None = None) -> list[MyReport]:
    query = (
        select(ReportEntry, Report)
        .join(Report, Report.id == ReportEntry.report_id)
        .where(ReportEntry.reporter_id == reporter.id)
        .order_by(ReportEntry.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(ReportEntry.id < before)
    return [MyReport(entry, case) for entry, case in session.execute(query)]


def my_report(session: Session, reporter: User, case_id: int) -> MyReport:
    """The reporter's own report in a case; anyone else gets the 404 of a case that does not exist."""
    found = session.execute(
        select(ReportEntry, Report)
        .join(Report, Report.id == ReportEntry.report_id)
        .where(ReportEntry.reporter_id == reporter.id, Report.id == case_id)
    ).first()
    if found is None:
        raise NotFound(f"No report with id {case_id}")
    return MyReport(found[0], found[1])


def list_cases(
    session: Session,
    *,
    statuses: tuple[ReportStatus, ...] = OPEN_STATUSES,
    entity_type: str | None = None,
    reason: ReportReason | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[Report]:
    """Cases for moderators, oldest first (first come, first served), by keyset on id."""
    query = select(Report).where(Report.status.in_(statuses)).order_by(Report.id).limit(limit)
    if entity_type:
        query = query.where(Report.entity_type == entity_type)
    if reason is not None:
        anyone = exists().where(ReportEntry.report_id == Report.id, ReportEntry.reason == reason)
        query = query.where(anyone)
    if after is not None:
        query = query.where(Report.id > after)
    return list(session.scalars(query))


def count_open(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Report).where(Report.status.in_(OPEN_STATUSES))) or 0
