"""The moderator dashboard, `/moderation`: the queues as tabs with their counts, each case or item with its thing
(pictures blurred above PG-13 until hovered), claim and act forms; a page per case and per review item with
everything about it; and the moderation log. Every action is a plain form, so it all works without JavaScript.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.admin.area import AdminSection, Figure, admin_page, register_admin_figures, register_admin_section
from modelyard.catalog.enums import UnpublishKind
from modelyard.core.errors import AppError, NotFound, ValidationFailed
from modelyard.core.http import SessionDep
from modelyard.core.params import Id, id_or_none
from modelyard.moderation import actions, appeals, claims, journal, queues, reports, strikes
from modelyard.moderation.models import (
    OPEN_STATUSES,
    PEOPLE_REASONS,
    Report,
    ReportReason,
    ReportStatus,
    ReviewItem,
    ReviewQueue,
)
from modelyard.moderation.reportables import Subject, label_of, load_subject, reportable_types
from modelyard.web.toolkit import PageModerator, back_to, form_failed, register_flash, see_other, whole_number

router = APIRouter(include_in_schema=False)
SECTION = "moderation"
PAGE = 50
register_flash(
    {
        "case-claimed": "The case is yours: the other moderators see you are on it.",
        "case-released": "The case is back in the queue.",
        "case-decided": "Done: the case is closed, and the people concerned are told.",
        "item-claimed": "The item is yours.",
        "item-decided": "Done: the item is closed.",
        "appeal-decided": "The appeal is decided, and its author told.",
    }
)
LEVEL_CHOICES = ((1, "PG"), (2, "PG-13"), (4, "R"), (8, "X"), (16, "XXX"))


def _figures(session: Session, is_admin: bool) -> list[Figure]:
    sizes = queues.queue_sizes(session)
    shown = [Figure(sizes[ReviewQueue.reported], "open reports", "warn" if sizes[ReviewQueue.reported] else "")]
    others = sum(size for queue, size in sizes.items() if queue != ReviewQueue.reported)
    shown.append(Figure(others, "items to review", "warn" if others else ""))
    return shown


def register() -> None:
    """The dashboard's place in the administration area, and its figures on the area's home page."""
    register_admin_section(
        AdminSection(
            SECTION,
            "Moderation",
            "/moderation",
            icon="flag",
            title="Reports and review queues",
            blurb="Reported content, new users' first uploads, uncertain ratings, look-alikes and appeals.",
            order=5,
        )
    )
    register_admin_figures("moderation", _figures)


def _subjects(session: Session, viewer: User, rows: list[Report] | list[ReviewItem]) -> dict[int, Subject | None]:
    return {row.id: load_subject(session, viewer, row.entity_type, row.entity_id) for row in rows}


def _dashboard_context(
    session: Session, viewer: User, queue: ReviewQueue, entity_type: str, reason: str, closed: bool, after: int | None
) -> dict[str, Any]:
    chosen_reason = ReportReason(reason) if reason in ReportReason.__members__ else None
    rows: list[Report] | list[ReviewItem]
    if queue == ReviewQueue.reported:
        statuses = (ReportStatus.Actioned, ReportStatus.Unactioned) if closed else OPEN_STATUSES
        rows = reports.list_cases(
            session,
            statuses=statuses,
            entity_type=entity_type or None,
            reason=chosen_reason,
            after=after,
            limit=PAGE + 1,
        )
    else:
        rows = queues.list_items(
            session, queue, entity_type=entity_type or None, done=closed, after=after, limit=PAGE + 1
        )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return {
        "queue": queue,
        "queues": [(q, queues.QUEUE_LABELS[q]) for q in queues.QUEUE_ORDER],
        "sizes": queues.queue_sizes(session),
        "rows": rows,
        "subjects": _subjects(session, viewer, rows),
        "names": journal.names_of(session, {row.claimed_by_id for row in rows}),
        "entity_type": entity_type,
        "entity_types": sorted(reportable_types()),
        "reason": chosen_reason.value if chosen_reason else "",
        "reasons": list(ReportReason),
        "closed": closed,
        "next_after": rows[-1].id if more and rows else None,
        "label_of": label_of,
        "levels": LEVEL_CHOICES,
    }


@router.get("/moderation", response_class=HTMLResponse)
def dashboard(
    request: Request,
    actor: PageModerator,
    session: SessionDep,
    queue: Annotated[str, Query(max_length=24)] = ReviewQueue.reported.value,
    entity_type: Annotated[str, Query(alias="type", max_length=24)] = "",
    reason: Annotated[str, Query(max_length=24)] = "",
    state: Annotated[str, Query(alias="status", max_length=10)] = "open",
    after: Annotated[str, Query(max_length=12)] = "",
) -> Response:
    chosen = ReviewQueue(queue) if queue in ReviewQueue.__members__ else ReviewQueue.reported
    context = _dashboard_context(
        session, actor, chosen, entity_type.strip(), reason, state == "closed", id_or_none(after)
    )
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return admin_page(request, actor, SECTION, "moderation/dashboard.html", {**context, "here": here})


# --- a case -------------------------------------------------------------------------------------------------------


def _owner_context(session: Session, owner_id: int | None) -> dict[str, Any]:
    owner = session.get(User, owner_id) if owner_id else None
    return {
        "owner": owner,
        "owner_points": strikes.active_points(session, owner.id) if owner else 0,
        "owner_strikes": strikes.all_strikes(session, owner.id)[:10] if owner else [],
    }


def _act_context(entity_type: str) -> dict[str, Any]:
    allowed = actions.actions_for(entity_type)
    return {
        "act": {
            "choices": [(action, actions.ACTION_LABELS[action]) for action in allowed],
            "levels": LEVEL_CHOICES,
            "kinds": actions.UNPUBLISH_KINDS,
            "can_set_level": actions.Action.set_level in allowed,
            "can_unpublish": actions.Action.unpublish in allowed,
        }
    }


def _case_context(session: Session, actor: User, case: Report) -> dict[str, Any]:
    entries = reports.entries_of(session, case)
    log = journal.of_thing(session, case.entity_type, case.entity_id)
    people = {entry.reporter_id for entry in entries} | {line.actor_id for line in log}
    people |= {case.claimed_by_id, case.resolved_by_id}
    return {
        "case": case,
        "subject": load_subject(session, actor, case.entity_type, case.entity_id),
        "label": label_of(case.entity_type),
        "entries": entries,
        "log": log,
        "names": journal.names_of(session, people),
        "is_open": case.status in OPEN_STATUSES,
        "form": {},
        **_owner_context(session, case.owner_id),
        **_act_context(case.entity_type),
    }


def _case_page(request: Request, actor: User, session: Session, case: Report, **extra: Any) -> HTMLResponse:
    context = {**_case_context(session, actor, case), **extra}
    return admin_page(request, actor, SECTION, "moderation/case.html", context)


def _case_failed(request: Request, actor: User, session: Session, case_id: int, error: AppError, **form: Any) -> Any:
    session.rollback()
    context = {**_case_context(session, actor, reports.get_case(session, case_id)), "form": form}
    return form_failed(request, session, "moderation/case.html", context, error, render_page=moderation_page(actor))


def moderation_page(actor: User) -> Any:
    def render(request: Request, template: str, context: dict[str, Any], **options: Any) -> HTMLResponse:
        return admin_page(request, actor, SECTION, template, context, **options)

    return render


@router.get("/moderation/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: Id, actor: PageModerator, session: SessionDep) -> Response:
    return _case_page(request, actor, session, reports.get_case(session, case_id))


@router.post("/moderation/cases/{case_id}/claim", response_class=HTMLResponse)
def claim_case(request: Request, case_id: Id, actor: PageModerator, session: SessionDep) -> Response:
    try:
        claims.claim(session, reports.get_case(session, case_id), actor)
    except AppError as exc:
        return _case_failed(request, actor, session, case_id, exc)
    return see_other(f"/moderation/cases/{case_id}", done="case-claimed")


@router.post("/moderation/cases/{case_id}/release", response_class=HTMLResponse)
def release_case(request: Request, case_id: Id, actor: PageModerator, session: SessionDep) -> Response:
    try:
        claims.release(session, reports.get_case(session, case_id), actor)
    except AppError as exc:
        return _case_failed(request, actor, session, case_id, exc)
    return see_other("/moderation", done="case-released")


Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=24)]


@dataclass(frozen=True)
class DecisionForm:
    """The fields of the act forms (the case and item pages', and the dashboard's quick ones), as sent."""

    action: str
    reason: str
    level: str
    kind: str
    message: str
    strike_points: str
    back: str  # where the dashboard's quick forms come back to

    def decision(self) -> actions.Decision:
        if self.action not in actions.Action.__members__:
            raise ValidationFailed("Choose an action", field="action")
        if self.kind not in (k.value for k in actions.UNPUBLISH_KINDS):
            raise ValidationFailed("Choose why it is unpublished", field="kind")
        return actions.Decision(
            actions.Action(self.action),
            reason=self.reason,
            level=whole_number(self.level, "The level", "level", max_digits=2),
            kind=UnpublishKind(self.kind),
            message=self.message.strip() or None,
            strike_points=whole_number(self.strike_points, "Strike points", "strike_points", max_digits=3),
        )

    def echoed(self) -> dict[str, str]:
        """What the page shows again when the decision is refused."""
        return {name: value for name, value in asdict(self).items() if name != "back"}


def decision_form(
    action: Short = "",
    reason: Text = "",
    level: Short = "",
    kind: Short = "violation",
    message: Text = "",
    strike_points: Short = "",
    back: Annotated[str, Form(max_length=500)] = "",
) -> DecisionForm:
    return DecisionForm(action, reason, level, kind, message, strike_points, back)


DecisionFormDep = Annotated[DecisionForm, Depends(decision_form)]


@router.post("/moderation/cases/{case_id}/act", response_class=HTMLResponse)
def act_on_case(
    request: Request, case_id: Id, actor: PageModerator, session: SessionDep, form: DecisionFormDep
) -> Response:
    """The case page's form, and the dashboard's quick ones (which come back to the dashboard: `back`)."""
    try:
        actions.act_on_case(session, actor, reports.get_case(session, case_id), form.decision())
    except AppError as exc:
        return _case_failed(request, actor, session, case_id, exc, **form.echoed())
    return see_other(back_to(form.back, f"/moderation/cases/{case_id}"), done="case-decided")


# --- a review item ------------------------------------------------------------------------------------------------


def _item_context(session: Session, actor: User, item: ReviewItem) -> dict[str, Any]:
    subject = load_subject(session, actor, item.entity_type, item.entity_id)
    log = journal.of_thing(session, item.entity_type, item.entity_id)
    appeal = appeals.appeal_of_item(session, item)
    people = {line.actor_id for line in log} | {item.claimed_by_id, item.resolved_by_id}
    return {
        "item": item,
        "queue_label": queues.QUEUE_LABELS[item.queue],
        "subject": subject,
        "label": label_of(item.entity_type),
        "log": log,
        "appeal": appeal,
        "names": journal.names_of(session, people | {appeal.user_id if appeal else None}),
        "is_open": item.resolved_at is None,
        "form": {},
        **_owner_context(session, subject.owner_id if subject else None),
        **_act_context(item.entity_type),
    }


def _item_failed(request: Request, actor: User, session: Session, item_id: int, error: AppError, **form: Any) -> Any:
    session.rollback()
    context = {**_item_context(session, actor, queues.get_item(session, item_id)), "form": form}
    return form_failed(request, session, "moderation/item.html", context, error, render_page=moderation_page(actor))


@router.get("/moderation/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, item_id: Id, actor: PageModerator, session: SessionDep) -> Response:
    context = _item_context(session, actor, queues.get_item(session, item_id))
    return admin_page(request, actor, SECTION, "moderation/item.html", context)


@router.post("/moderation/items/{item_id}/claim", response_class=HTMLResponse)
def claim_item(request: Request, item_id: Id, actor: PageModerator, session: SessionDep) -> Response:
    try:
        claims.claim(session, queues.get_item(session, item_id), actor)
    except AppError as exc:
        return _item_failed(request, actor, session, item_id, exc)
    return see_other(f"/moderation/items/{item_id}", done="item-claimed")


@router.post("/moderation/items/{item_id}/act", response_class=HTMLResponse)
def act_on_item(
    request: Request, item_id: Id, actor: PageModerator, session: SessionDep, form: DecisionFormDep
) -> Response:
    try:
        item = queues.get_item(session, item_id)
        actions.act_on_item(session, actor, item, form.decision())
    except AppError as exc:
        return _item_failed(request, actor, session, item_id, exc, **form.echoed())
    return see_other(back_to(form.back, f"/moderation?queue={item.queue.value}"), done="item-decided")


@router.post("/moderation/items/{item_id}/appeal", response_class=HTMLResponse)
def decide_appeal(
    request: Request,
    item_id: Id,
    actor: PageModerator,
    session: SessionDep,
    decision: Short = "",
    note: Text = "",
) -> Response:
    try:
        item = queues.get_item(session, item_id)
        appeal = appeals.appeal_of_item(session, item)
        if appeal is None:
            raise NotFound("This item holds no appeal")
        appeals.decide(session, actor, appeal, reverse=decision == "reverse", note=note)
    except AppError as exc:
        return _item_failed(request, actor, session, item_id, exc, note=note)
    return see_other("/moderation?queue=appeal", done="appeal-decided")


# --- the log ------------------------------------------------------------------------------------------------------


@router.get("/moderation/log", response_class=HTMLResponse)
def log_page(
    request: Request,
    actor: PageModerator,
    session: SessionDep,
    entity_type: Annotated[str, Query(alias="type", max_length=24)] = "",
    entity_id: Annotated[str, Query(alias="id", max_length=12)] = "",
    action: Annotated[str, Query(max_length=24)] = "",
    before: Annotated[str, Query(max_length=12)] = "",
) -> Response:
    lines = journal.entries(
        session,
        entity_type=entity_type.strip() or None,
        entity_id=id_or_none(entity_id),
        action=action.strip() or None,
        before=id_or_none(before),
        limit=PAGE + 1,
    )
    context = {
        "lines": lines[:PAGE],
        "names": journal.names_of(session, {line.actor_id for line in lines}),
        "entity_type": entity_type.strip(),
        "entity_id": entity_id.strip(),
        "action": action.strip(),
        "next_before": lines[PAGE - 1].id if len(lines) > PAGE else None,
        "label_of": label_of,
        "reasons": PEOPLE_REASONS,
    }
    return admin_page(request, actor, SECTION, "moderation/log.html", context)
