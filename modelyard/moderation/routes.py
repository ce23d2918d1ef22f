"""JSON API of reports, appeals and the moderators' queues.

Anyone logged in reports what they can see (the SocialWrite scope) and reads the status of their own reports
(UserRead); what they cannot see is a 404, as for what does not exist. The moderators' endpoints need a moderator
whose credentials carry staff powers (a session, or a key with the Full scope).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from modelyard.accounts import moderation as account_moderation
from modelyard.accounts.auth import ModeratorUser, requires
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.enums import UnpublishKind
from modelyard.core.errors import ValidationFailed
from modelyard.core.http import SessionDep, model_response
from modelyard.core.params import BOUNDS, Id
from modelyard.moderation import actions, appeals, claims, journal, queues, reports, strikes
from modelyard.moderation.models import (
    OPEN_STATUSES,
    AppealStatus,
    ModerationLog,
    Report,
    ReportReason,
    ReportStatus,
    ReviewItem,
    ReviewQueue,
    ReviewStatus,
)
from modelyard.moderation.reportables import load_subject
from modelyard.moderation.reports import MAX_DETAILS, MyReport

router = APIRouter(tags=["moderation"])
Reporter = Annotated[User, Depends(requires(TokenScope.SocialWrite))]
ReportReader = Annotated[User, Depends(requires(TokenScope.UserRead))]
EntityType = Annotated[str, Field(min_length=1, max_length=24, pattern=r"^[a-z_]+$")]
PAGE = 50


class ReportIn(BaseModel):
    entity_type: EntityType = Field(description="model, version, image, post, user (and what other domains add)")
    entity_id: Annotated[int, BOUNDS]
    reason: ReportReason
    details: str | None = Field(None, max_length=MAX_DETAILS)


class MyReportOut(BaseModel):
    """A report as its reporter sees it: what they reported, why, and where its case stands."""

    id: int = Field(description="The case's id")
    entity_type: str
    entity_id: int
    reason: ReportReason
    details: str | None
    status: ReportStatus
    created_at: datetime
    resolved_at: datetime | None


class MyReportsOut(BaseModel):
    items: list[MyReportOut]
    next_cursor: int | None


class SubjectOut(BaseModel):
    entity_type: str
    entity_id: int
    owner_id: int | None
    title: str
    url: str | None
    picture: str | None
    nsfw_level: int


class LogOut(BaseModel, from_attributes=True):
    id: int
    actor_id: int | None
    entity_type: str
    entity_id: int
    action: str
    reason: str | None
    detail: dict[str, object] | None
    report_id: int | None
    review_item_id: int | None
    created_at: datetime


class EntryOut(BaseModel, from_attributes=True):
    reporter_id: int | None
    reason: ReportReason
    details: str | None
    created_at: datetime


class CaseOut(BaseModel, from_attributes=True):
    id: int
    entity_type: str
    entity_id: int
    owner_id: int | None
    reason: ReportReason
    status: ReportStatus
    report_count: int
    claimed_by_id: int | None
    claimed_at: datetime | None
    resolved_by_id: int | None
    resolved_at: datetime | None
    resolution: str | None
    resolution_note: str | None
    created_at: datetime


class CaseDetailOut(CaseOut):
    subject: SubjectOut | None = Field(description="The thing; null when it is gone")
    reports: list[EntryOut]
    log: list[LogOut]


class ItemOut(BaseModel, from_attributes=True):
    id: int
    queue: ReviewQueue
    entity_type: str
    entity_id: int
    status: ReviewStatus
    detail: dict[str, object] | None
    claimed_by_id: int | None
    claimed_at: datetime | None
    resolution: str | None
    created_at: datetime


class QueueOut(BaseModel):
    queue: ReviewQueue
    cases: list[CaseOut] = Field(description="The reported queue's cases")
    items: list[ItemOut] = Field(description="The other queues' review items")
    next_cursor: int | None
    sizes: dict[str, int] = Field(description="Open work per queue")


class DecisionIn(BaseModel):
    action: actions.Action
    reason: str | None = Field(None, max_length=actions.MAX_REASON)
    level: int | None = Field(None, description="set_level: 1 PG, 2 PG-13, 4 R, 8 X, 16 XXX")
    kind: Literal["violation", "legal"] = "violation"
    message: str | None = Field(None, max_length=actions.MAX_REASON, description="unpublish: for the owner")
    strike_points: int | None = Field(None, ge=1, le=100, description="Also strike the owner (or a strike's points)")

    def decision(self) -> actions.Decision:
        return actions.Decision(
            self.action, self.reason, self.level, UnpublishKind(self.kind), self.message, self.strike_points
        )


class AppealIn(BaseModel):
    entity_type: EntityType
    entity_id: Annotated[int, BOUNDS]
    message: str = Field(max_length=appeals.MAX_MESSAGE)


class AppealOut(BaseModel, from_attributes=True):
    id: int
    entity_type: str
    entity_id: int
    status: AppealStatus
    message: str
    decision_note: str | None
    created_at: datetime
    decided_at: datetime | None


class AppealDecisionIn(BaseModel):
    decision: Literal["uphold", "reverse"]
    note: str | None = Field(None, max_length=appeals.MAX_MESSAGE)


def _my_out(found: MyReport) -> MyReportOut:
    entry, case = found.entry, found.case
    return MyReportOut(
        id=case.id,
        entity_type=case.entity_type,
        entity_id=case.entity_id,
        reason=entry.reason,
        details=entry.details,
        status=case.status,
        created_at=entry.created_at,
        resolved_at=case.resolved_at,
    )


def case_detail(session: Session, viewer: User, case: Report) -> CaseDetailOut:
    subject = load_subject(session, viewer, case.entity_type, case.entity_id)
    return CaseDetailOut(
        **CaseOut.model_validate(case).model_dump(),
        subject=SubjectOut(**subject.__dict__) if subject else None,
        reports=[EntryOut.model_validate(entry) for entry in reports.entries_of(session, case)],
        log=[LogOut.model_validate(line) for line in journal.of_thing(session, case.entity_type, case.entity_id)],
    )


# --- reporters ----------------------------------------------------------------------------------------------------


@router.post("/api/reports", status_code=status.HTTP_201_CREATED, response_model=MyReportOut)
def file_report(body: ReportIn, user: Reporter, session: SessionDep) -> Response:
    """Report something you can see (not your own). Repeated reports of one thing join its open case; you file one
    report per case, and at most the site's hourly number of reports (429 after, with Retry-After)."""
    case = reports.file_report(session, user, body.entity_type, body.entity_id, body.reason, body.details)
    return model_response(_my_out(reports.my_report(session, user, case.id)), status_code=201)


@router.get("/api/reports/mine", response_model=MyReportsOut)
def my_reports(
    user: ReportReader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = PAGE,
    cursor: Id | None = None,
) -> Response:
    """Your reports, newest first, with where each case stands; `cursor` is the `next_cursor` of the last page."""
    found = reports.my_reports(session, user, limit=limit + 1, before=cursor)
    more = len(found) > limit
    items = [_my_out(item) for item in found[:limit]]
    next_cursor = found[limit - 1].entry.id if more else None
    return model_response(MyReportsOut(items=items, next_cursor=next_cursor))


@router.get("/api/reports/{case_id}", response_model=MyReportOut)
def my_report(case_id: Id, user: ReportReader, session: SessionDep) -> Response:
    """Your report in a case: its status. Nobody else's reports are visible here (404)."""
    return model_response(_my_out(reports.my_report(session, user, case_id)))


@router.post("/api/appeals", status_code=status.HTTP_201_CREATED, response_model=AppealOut)
def file_appeal(body: AppealIn, user: Reporter, session: SessionDep) -> Response:
    """Appeal a block or a take-down of your own image, model or version: once, with a message for moderators."""
    appeal = appeals.file_appeal(session, user, body.entity_type, body.entity_id, body.message)
    return model_response(AppealOut.model_validate(appeal), status_code=201)


# --- moderators ---------------------------------------------------------------------------------------------------


@router.get("/api/moderation/queue", response_model=QueueOut)
def queue(
    moderator: ModeratorUser,
    session: SessionDep,
    name: Annotated[ReviewQueue, Query(alias="queue")] = ReviewQueue.reported,
    entity_type: Annotated[str | None, Query(max_length=24)] = None,
    reason: ReportReason | None = None,
    state: Annotated[Literal["open", "closed"], Query(alias="status")] = "open",
    cursor: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = PAGE,
) -> Response:
    """A queue's open (or closed) work, oldest first: cases for `reported`, review items for the others."""
    cases: list[Report] = []
    items: list[ReviewItem] = []
    if name == ReviewQueue.reported:
        closed = (ReportStatus.Actioned, ReportStatus.Unactioned)
        statuses = OPEN_STATUSES if state == "open" else closed
        cases = reports.list_cases(
            session, statuses=statuses, entity_type=entity_type, reason=reason, after=cursor, limit=limit + 1
        )
        ids = [case.id for case in cases]
    else:
        items = queues.list_items(
            session, name, entity_type=entity_type, done=state == "closed", after=cursor, limit=limit + 1
        )
        ids = [item.id for item in items]
    more = len(ids) > limit
    return model_response(
        QueueOut(
            queue=name,
            cases=[CaseOut.model_validate(case) for case in cases[:limit]],
            items=[ItemOut.model_validate(item) for item in items[:limit]],
            next_cursor=ids[limit - 1] if more else None,
            sizes={queue.value: size for queue, size in queues.queue_sizes(session).items()},
        )
    )


@router.get("/api/moderation/cases/{case_id}", response_model=CaseDetailOut)
def get_case(case_id: Id, moderator: ModeratorUser, session: SessionDep) -> Response:
    """A case with its thing, every report of it, and the log of what was done about the thing."""
    return model_response(case_detail(session, moderator, reports.get_case(session, case_id)))


@router.post("/api/moderation/cases/{case_id}/claim", response_model=CaseOut)
def claim_case(case_id: Id, moderator: ModeratorUser, session: SessionDep) -> Response:
    """Claim a case (Processing): other moderators see it is yours. 409 when another holds it or it is closed."""
    case = claims.claim(session, reports.get_case(session, case_id), moderator)
    return model_response(CaseOut.model_validate(case))


@router.post("/api/moderation/cases/{case_id}/release", response_model=CaseOut)
def release_case(case_id: Id, moderator: ModeratorUser, session: SessionDep) -> Response:
    """Give your claim back: the case is Pending again."""
    case = claims.release(session, reports.get_case(session, case_id), moderator)
    return model_response(CaseOut.model_validate(case))


@router.post("/api/moderation/cases/{case_id}/act", response_model=CaseDetailOut)
def act_on_case(case_id: Id, body: DecisionIn, moderator: ModeratorUser, session: SessionDep) -> Response:
    """Decide a case: `dismiss` (Unactioned), or act (Actioned): `set_level` and `block` for images, `unpublish`
    for models, versions and posts, `strike`, `mute` or `ban` for the owner; `strike_points` strikes the owner too.
    Logged; the reporters and the owner are told by e-mail."""
    case = actions.act_on_case(session, moderator, reports.get_case(session, case_id), body.decision())
    return model_response(case_detail(session, moderator, case))


@router.get("/api/moderation/items/{item_id}", response_model=ItemOut)
def get_item(item_id: Id, moderator: ModeratorUser, session: SessionDep) -> Response:
    return model_response(ItemOut.model_validate(queues.get_item(session, item_id)))


@router.post("/api/moderation/items/{item_id}/claim", response_model=ItemOut)
def claim_item(item_id: Id, moderator: ModeratorUser, session: SessionDep) -> Response:
    """Claim a review item; 409 when another moderator holds it or it is done."""
    return model_response(ItemOut.model_validate(claims.claim(session, queues.get_item(session, item_id), moderator)))


@router.post("/api/moderation/items/{item_id}/act", response_model=ItemOut)
def act_on_item(item_id: Id, body: DecisionIn, moderator: ModeratorUser, session: SessionDep) -> Response:
    """Decide a review item (`dismiss` approves it as it is); appeals are decided at /api/moderation/appeals."""
    item = actions.act_on_item(session, moderator, queues.get_item(session, item_id), body.decision())
    return model_response(ItemOut.model_validate(item))


@router.post("/api/moderation/appeals/{appeal_id}/decide", response_model=AppealOut)
def decide_appeal(appeal_id: Id, body: AppealDecisionIn, moderator: ModeratorUser, session: SessionDep) -> Response:
    """Uphold the decision, or reverse it (the image unblocked, the model or version published again)."""
    appeal = appeals.get_appeal(session, appeal_id)
    decided = appeals.decide(session, moderator, appeal, reverse=body.decision == "reverse", note=body.note)
    return model_response(AppealOut.model_validate(decided))


class StrikeIn(BaseModel):
    points: int | None = Field(None, ge=1, le=strikes.MAX_POINTS, description="Absent: the site's default")
    reason: str = Field(min_length=1, max_length=strikes.MAX_REASON)


class StrikeOut(BaseModel, from_attributes=True):
    id: int
    user_id: int
    points: int
    reason: str
    actor_id: int | None
    report_id: int | None
    created_at: datetime
    expires_at: datetime
    voided_at: datetime | None


class StrikesOut(BaseModel):
    active_points: int
    uploads_paused_until: datetime | None
    muted: bool
    strikes: list[StrikeOut]


def _strikes_out(session: Session, user: User) -> StrikesOut:
    return StrikesOut(
        active_points=strikes.active_points(session, user.id),
        uploads_paused_until=user.uploads_paused_until,
        muted=user.is_muted,
        strikes=[StrikeOut.model_validate(strike) for strike in strikes.all_strikes(session, user.id)],
    )


@router.get("/api/moderation/users/{user_id}/strikes", response_model=StrikesOut)
def user_strikes(user_id: Id, moderator: ModeratorUser, session: SessionDep) -> Response:
    """A user's strikes (expired and voided ones included), their active points and the restrictions in force."""
    return model_response(_strikes_out(session, account_moderation.get_user(session, user_id)))


@router.post("/api/moderation/users/{user_id}/strikes", status_code=status.HTTP_201_CREATED, response_model=StrikesOut)
def strike_user(user_id: Id, body: StrikeIn, moderator: ModeratorUser, session: SessionDep) -> Response:
    """Strike a user outside any case; restrictions follow at the thresholds in settings."""
    user = account_moderation.get_user(session, user_id)
    strikes.give_strike(session, moderator, user, reason=body.reason, points=body.points)
    return model_response(_strikes_out(session, user), status_code=201)


@router.get("/api/moderation/log", response_model=list[LogOut])
def moderation_log(
    moderator: ModeratorUser,
    session: SessionDep,
    entity_type: Annotated[str | None, Query(max_length=24)] = None,
    entity_id: Id | None = None,
    before: Id | None = None,
) -> list[ModerationLog]:
    """The moderation log, newest first; `before` an id to page on from."""
    if entity_id is not None and not entity_type:
        raise ValidationFailed("entity_id needs entity_type", field="entity_id")
    return journal.entries(session, entity_type=entity_type, entity_id=entity_id, before=before)
