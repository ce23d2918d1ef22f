"""What a moderator does about a case or a review item, in one place: the effect on the thing (through the domain
that owns it), the line in the log, the case or item closed, and the people told.

    act_on_case(session, moderator, case, Decision(Action.block, reason="Gore"))

A decision may also strike the owner (`strike_points`) along with its main action. Acting claims first: a case
another moderator holds is refused (409), so two moderators never decide the same case twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy.orm import Session

from modelyard.accounts import moderation as account_moderation
from modelyard.accounts.models import User
from modelyard.catalog.enums import UnpublishKind
from modelyard.catalog.lifecycle import transitions
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict, ValidationFailed
from modelyard.core.nsfw import BrowsingLevel
from modelyard.images import editing
from modelyard.images import moderate as image_moderation
from modelyard.images.models import BlockedFor, Image, Post
from modelyard.moderation import claims, journal, notices, strikes
from modelyard.moderation.models import Report, ReportStatus, ReviewItem, ReviewQueue
from modelyard.moderation.queues import close_item
from modelyard.moderation.reportables import Subject, load_subject

MAX_REASON = 2000


class Action(enum.StrEnum):
    dismiss = "dismiss"  # nothing wrong: a case is Unactioned, an item approved
    set_level = "set_level"  # an image's NSFW level, locked
    block = "block"  # an image, never shown again; re-uploads are caught by its perceptual hash
    unblock = "unblock"  # an image blocked by mistake (a look-alike that was not)
    unpublish = "unpublish"  # a model, version or post, with the lifecycle's reasons
    strike = "strike"  # the owner
    mute = "mute"  # the owner
    ban = "ban"  # the owner


ACTION_LABELS = {
    Action.dismiss: "Dismiss (nothing wrong)",
    Action.set_level: "Set the level",
    Action.block: "Block the image",
    Action.unblock: "Unblock the image",
    Action.unpublish: "Unpublish",
    Action.strike: "Strike the owner",
    Action.mute: "Mute the owner",
    Action.ban: "Ban the owner",
}
# Actions that apply to only some kinds of things; the rest apply to anything with an owner.
_ONLY_FOR = {
    Action.set_level: {"image"},
    Action.block: {"image"},
    Action.unblock: {"image"},
    Action.unpublish: {"model", "version", "post"},
}
_NEEDS_REASON = {Action.block, Action.unpublish, Action.strike, Action.mute, Action.ban}
LEVELS = tuple(int(level) for level in BrowsingLevel if level != BrowsingLevel.Blocked)
UNPUBLISH_KINDS = (UnpublishKind.violation, UnpublishKind.legal)


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str | None = None
    level: int | None = None  # set_level: one bit of BrowsingLevel
    kind: UnpublishKind = UnpublishKind.violation  # unpublish: a violation or a legal request
    message: str | None = None  # unpublish: for the owner
    strike_points: int | None = None  # strike: its points; other actions: also strike the owner with these


def actions_for(entity_type: str) -> list[Action]:
    return [action for action in Action if entity_type in _ONLY_FOR.get(action, {entity_type})]


def _clean(decision: Decision, entity_type: str) -> Decision:
    action = Action(decision.action)
    if entity_type not in _ONLY_FOR.get(action, {entity_type}):
        raise ValidationFailed(f"{action.value} does not apply to a {entity_type}", field="action")
    reason = (decision.reason or "").strip() or None
    if reason and (len(reason) > MAX_REASON or "\x00" in reason):
        raise ValidationFailed(f"A reason is at most {MAX_REASON} characters of text", field="reason")
    if action in _NEEDS_REASON and not reason:
        raise ValidationFailed("Say why: this action needs a reason", field="reason")
    if action == Action.set_level and decision.level not in LEVELS:
        raise ValidationFailed(f"A level is one of {', '.join(map(str, LEVELS))}", field="level")
    kind = UnpublishKind(decision.kind)
    if action == Action.unpublish and kind not in UNPUBLISH_KINDS:
        raise ValidationFailed("Moderators unpublish for a violation or a legal request", field="kind")
    if decision.strike_points is not None and decision.strike_points < 1:
        raise ValidationFailed("Strike points are a positive number", field="strike_points")
    return Decision(action, reason, decision.level, kind, decision.message, decision.strike_points)


def perform(
    session: Session,
    actor: User,
    entity_type: str,
    entity_id: int,
    owner_id: int | None,
    decision: Decision,
    *,
    case: Report | None = None,
    item: ReviewItem | None = None,
) -> Subject | None:
    """The decision's effect and its log lines; the thing as it was before (None when it is gone)."""
    decision = _clean(decision, entity_type)
    subject = load_subject(session, actor, entity_type, entity_id)
    owner_id = subject.owner_id if subject is not None else owner_id
    owner = session.get(User, owner_id) if owner_id else None
    action = decision.action
    strikes_owner = action == Action.strike or (bool(decision.strike_points) and action != Action.dismiss)
    if subject is None and action not in _ON_THE_OWNER | {Action.dismiss}:
        raise Conflict(f"This {entity_type} is gone: only dismissing, or acting on its owner, is left")
    if owner is None and (action in _ON_THE_OWNER or strikes_owner):
        raise Conflict("This has no owner to act on")
    detail = _effect(session, actor, entity_type, entity_id, owner, decision)
    if action != Action.strike:  # a strike logs itself, on the user
        journal.record(
            session,
            actor,
            entity_type,
            entity_id,
            action.value,
            reason=decision.reason,
            detail=detail or None,
            report_id=case.id if case else None,
            review_item_id=item.id if item else None,
        )
    if strikes_owner:
        assert owner is not None
        strikes.give_strike(
            session,
            actor,
            owner,
            reason=decision.reason or f"{action.value} of {entity_type} {entity_id}",
            points=decision.strike_points,
            report_id=case.id if case else None,
        )
    return subject


_ON_THE_OWNER = {Action.strike, Action.mute, Action.ban}


def _effect(
    session: Session, actor: User, entity_type: str, entity_id: int, owner: User | None, decision: Decision
) -> dict[str, object]:
    """What the action does, through the domain that owns the thing; what the log should add."""
    action = decision.action
    if action == Action.set_level:
        image_moderation.set_level(session, _image(session, entity_id), int(decision.level or 0), lock=True)
    elif action == Action.block:
        image = _image(session, entity_id)
        image_moderation.block(session, image, reason=BlockedFor.moderated, actor=actor, note=decision.reason)
    elif action == Action.unblock:
        image_moderation.unblock(session, _image(session, entity_id))
    elif action == Action.unpublish:
        _unpublish(session, actor, entity_type, entity_id, decision)
    elif action in (Action.mute, Action.ban):
        assert owner is not None
        punish = account_moderation.mute if action == Action.mute else account_moderation.ban
        punish(session, actor, owner, reason=decision.reason or "")
    if entity_type == "image" and action in (Action.set_level, Action.block):
        from modelyard.moderation.game import withdraw

        withdraw(session, entity_id)  # a moderator settled it: the rating game need not
    if action == Action.set_level:
        return {"level": decision.level}
    if action == Action.unpublish:
        return {"kind": decision.kind.value}
    return {}


def _image(session: Session, image_id: int) -> Image:
    image = session.get(Image, image_id)
    assert image is not None  # load_subject found it
    return image


def _unpublish(session: Session, actor: User, entity_type: str, entity_id: int, decision: Decision) -> None:
    if entity_type == "model":
        model = session.get(Model, entity_id)
        assert model is not None
        transitions.unpublish_model(
            session, model, actor, kind=decision.kind, reason=decision.reason, message=decision.message
        )
    elif entity_type == "version":
        version = session.get(ModelVersion, entity_id)
        assert version is not None
        transitions.unpublish_version(
            session, version, actor, kind=decision.kind, reason=decision.reason, message=decision.message
        )
    else:
        post = session.get(Post, entity_id)
        assert post is not None
        if post.published_at is None:
            raise Conflict("This post is not published")
        owner = session.get(User, post.user_id)
        assert owner is not None
        editing.unpublish(session, owner, post)  # as its owner would: back to a draft only they see


def _owner_told_by_lifecycle(entity_type: str, action: Action) -> bool:
    return action == Action.unpublish and entity_type in ("model", "version")


def act_on_case(session: Session, actor: User, case: Report, decision: Decision) -> Report:
    """Decide a case: claim it (refused when another moderator holds it), act, close it, tell everyone."""
    claims.claim(session, case, actor)
    subject = perform(session, actor, case.entity_type, case.entity_id, case.owner_id, decision, case=case)
    action = Action(decision.action)
    actioned = action != Action.dismiss
    case.status = ReportStatus.Actioned if actioned else ReportStatus.Unactioned
    case.resolved_by_id = actor.id
    case.resolved_at = case.updated_at = utcnow()
    case.resolution = action.value
    case.resolution_note = (decision.reason or "").strip() or None
    session.flush()
    notices.tell_reporters(session, case, subject, actioned=actioned)
    if actioned and not _owner_told_by_lifecycle(case.entity_type, action):
        notices.tell_owner(
            session,
            case.owner_id,
            subject,
            case.entity_type,
            case.entity_id,
            action=action.value,
            reason=decision.reason,
            appealable=action in (Action.block, Action.unpublish),
        )
    return case


def act_on_item(session: Session, actor: User, item: ReviewItem, decision: Decision) -> ReviewItem:
    """Decide a review item (not an appeal: `appeals.decide`): claim, act, close; the owner is told of actions."""
    if item.queue == ReviewQueue.appeal:
        raise Conflict("Appeals are upheld or reversed, not acted on")
    claims.claim(session, item, actor)
    subject = perform(session, actor, item.entity_type, item.entity_id, None, decision, item=item)
    action = Action(decision.action)
    close_item(session, item, actor.id, "approve" if action == Action.dismiss else action.value)
    if action not in (Action.dismiss, Action.unblock) and not _owner_told_by_lifecycle(item.entity_type, action):
        notices.tell_owner(
            session,
            subject.owner_id if subject else None,
            subject,
            item.entity_type,
            item.entity_id,
            action=action.value,
            reason=decision.reason,
            appealable=action in (Action.block, Action.unpublish),
        )
    return item
