"""The publishing lifecycle of models and versions: which status may follow which, who may move it, and what
moves with it (versions, posts, search indexes, caches, the transition log).

Every change of status goes through `_move`, so the transition table is enforced and logged in one place.
Functions take the acting user (`None` for the system: the scheduler, a scanner) and flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.catalog import access
from modelyard.catalog.enums import ModelStatus, UnpublishKind
from modelyard.catalog.files import placement
from modelyard.catalog.lifecycle import effects, notices, readiness
from modelyard.catalog.models import Model, ModelVersion, StatusTransition
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict, Forbidden, ValidationFailed
from modelyard.core.jobs import enqueue

S = ModelStatus
# The specification's transitions (publishing: Draft, Unpublished, UnpublishedViolation, Training and Scheduled
# to Published; unpublishing: Published to Unpublished, UnpublishedViolation or Deleted) and the few a working
# site needs besides, each explained in docs/decisions/0008-publishing-lifecycle.md.
TRANSITIONS: dict[ModelStatus, tuple[ModelStatus, ...]] = {
    S.Draft: (S.Published, S.Scheduled, S.Deleted),
    S.Training: (S.Published, S.Draft, S.Deleted),
    S.Scheduled: (S.Published, S.Draft, S.Deleted),
    S.Published: (S.Unpublished, S.UnpublishedViolation, S.Deleted),
    S.Unpublished: (S.Published, S.UnpublishedViolation, S.Deleted),
    S.UnpublishedViolation: (S.Published, S.Deleted),
    S.GatherInterest: (S.Deleted,),
    S.Deleted: (S.Unpublished,),
}
# Moves only a moderator (or the system) makes: lifting a violation, restoring deleted content, and marking one.
_STAFF_ONLY = {(S.UnpublishedViolation, S.Published), (S.Deleted, S.Unpublished)}
# Moves a version makes only along with its model, never asked for on its own: a Scheduled version goes down with
# its model (the specification: every version of an unpublished model is Unpublished) and, when the model comes
# back before the version's time, is Scheduled again for that time.
_CARRIED = {(S.Scheduled, S.Unpublished), (S.Unpublished, S.Scheduled)}
_VIOLATION_KINDS = {UnpublishKind.violation, UnpublishKind.legal, UnpublishKind.scan}
MAX_REASON = 2000
# The keys of `meta` only the server writes: the unpublishing details, what went down or was deleted with the model
# (what a republish or a restore brings back), and the early-access purchase mark (which stops an owner from
# unpublishing). Owners' edits of meta leave them as they are (`service`).
DELETED_WITH_MODEL = "deletedWithModel"
SERVER_META_KEYS = frozenset({*effects.UNPUBLISH_META, DELETED_WITH_MODEL, effects.EARLY_ACCESS_PURCHASE})


def allowed_next(status: ModelStatus) -> tuple[ModelStatus, ...]:
    return TRANSITIONS[status]


def check_transition(label: str, current: ModelStatus, target: ModelStatus) -> None:
    if target not in TRANSITIONS[current]:
        allowed = TRANSITIONS[current]
        choices = ", ".join(s.value for s in allowed) if allowed else "nothing else"
        raise Conflict(
            f"{label} is {current.value}; from {current.value} it can go to {choices}, not {target.value}",
            status=current.value,
            allowed=[s.value for s in allowed],
        )


def _is_staff(actor: User | None) -> bool:
    return actor is None or policy.is_moderator(actor)


def _label(entity: Model | ModelVersion) -> str:
    return f"Model {entity.id}" if isinstance(entity, Model) else f"Version {entity.id}"


def _move(
    session: Session,
    entity: Model | ModelVersion,
    target: ModelStatus,
    actor: User | None,
    *,
    trigger: str,
    reason: str | None = None,
    message: str | None = None,
    carried: bool = False,
) -> None:
    current = entity.status
    if not (carried and isinstance(entity, ModelVersion) and (current, target) in _CARRIED):
        check_transition(_label(entity), current, target)
    if (current, target) in _STAFF_ONLY and not _is_staff(actor):
        raise Forbidden(f"Only a moderator can move {_label(entity)} from {current.value} to {target.value}")
    entity.status = target
    session.add(
        StatusTransition(
            entity_type="Model" if isinstance(entity, Model) else "ModelVersion",
            entity_id=entity.id,
            model_id=entity.id if isinstance(entity, Model) else entity.model_id,
            from_status=current,
            to_status=target,
            actor_id=actor.id if actor else None,
            trigger=trigger,
            reason=reason,
            message=message,
        )
    )


def last_transition(session: Session, entity: Model | ModelVersion) -> StatusTransition | None:
    session.flush()
    kind = "Model" if isinstance(entity, Model) else "ModelVersion"
    return session.scalar(
        select(StatusTransition)
        .where(StatusTransition.entity_type == kind, StatusTransition.entity_id == entity.id)
        .order_by(StatusTransition.id.desc())
        .limit(1)
    )


def _clean_text(value: str | None, what: str, *, required: bool = False) -> str | None:
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(f"A {what} is required")
    if len(value) > MAX_REASON:
        raise ValidationFailed(f"The {what} is at most {MAX_REASON} characters")
    return value or None


def _require_manager(actor: User | None, model: Model) -> None:
    if actor is not None and not access.may_write(actor, model):
        raise Forbidden("Only the model's owner or a moderator can do this")


def _require_can_publish(actor: User | None, model: Model) -> None:
    _require_manager(actor, model)
    if actor is not None and not policy.is_moderator(actor) and not policy.can_post(actor):
        raise Forbidden("Your account is muted: you cannot publish for now")


# --- publishing ------------------------------------------------------------------------------------------------


def _set_published(session: Session, version: ModelVersion, actor: User | None, now: datetime, trigger: str) -> None:
    _move(session, version, S.Published, actor, trigger=trigger)
    version.published_at = version.published_at or now
    version.scheduled_for = None
    version.meta = effects.clear_unpublished(version.meta)
    if version.early_access_days and version.early_access_ends_at is None:
        version.early_access_ends_at = version.published_at + timedelta(days=version.early_access_days)


def publish_model(
    session: Session,
    model: Model,
    actor: User | None,
    *,
    version_ids: list[int] | None = None,
    trigger: str = "manual",
) -> None:
    """Publish (or republish) a model with its versions: by default its drafts and the versions that went down
    with it (those scheduled for later are Scheduled again); `version_ids` names them instead. publishedAt keeps
    its first value."""
    _require_can_publish(actor, model)
    check_transition(_label(model), model.status, S.Published)
    now = utcnow()
    versions, rescheduled = readiness.versions_to_bring(model, version_ids, now)
    for version in (*versions, *rescheduled):
        readiness.check_publishable(version)
    if not versions and not any(v.status == S.Published for v in model.versions):
        if rescheduled:
            names = ", ".join(repr(v.name) for v in rescheduled)
            raise Conflict(
                f"No version would be published now: {names} is scheduled for later. Publish the model once its "
                "time has come, or name the version in version_ids to publish it now"
            )
        if any(v.status in (S.Unpublished, S.UnpublishedViolation) for v in model.versions):
            raise Conflict("No version would be published: name the unpublished ones to bring back in version_ids")
        raise Conflict("A model needs at least one version with a file before it can be published")
    _move(session, model, S.Published, actor, trigger=trigger)
    model.published_at = model.published_at or now
    model.scheduled_for = None
    model.meta = effects.clear_unpublished(model.meta)
    for version in versions:
        _set_published(session, version, actor, now, trigger)
    for version in rescheduled:
        _reschedule(session, version, actor, trigger)
    effects.show_version_content(session, [v for v in model.versions if v.status == S.Published], model.user_id, now)
    effects.refresh_last_version_at(session, model)
    effects.after_change(session, model)


def _reschedule(session: Session, version: ModelVersion, actor: User | None, trigger: str) -> None:
    """A version that went down with its model while Scheduled: Scheduled again, for the time it had."""
    assert version.scheduled_for is not None
    _move(session, version, S.Scheduled, actor, trigger=trigger, carried=True)
    version.meta = effects.clear_unpublished(version.meta)
    _send_at(session, version.scheduled_for)


def publish_version(session: Session, version: ModelVersion, actor: User | None, *, trigger: str = "manual") -> None:
    """Publish one version of a published model (a new version, or one brought back)."""
    model = version.model
    _require_can_publish(actor, model)
    check_transition(_label(version), version.status, S.Published)
    if model.status != S.Published:
        raise Conflict(f"Model {model.id} is {model.status.value}: publish the model, and this version with it")
    readiness.check_publishable(version)
    now = utcnow()
    _set_published(session, version, actor, now, trigger)
    effects.show_version_content(session, [version], model.user_id, now)
    effects.refresh_last_version_at(session, model)
    effects.after_change(session, model)


def schedule_model(
    session: Session, model: Model, actor: User | None, *, at: datetime, version_ids: list[int] | None = None
) -> None:
    """Draft → Scheduled: the model and its versions publish at `at` (a periodic job checks every minute, and a
    delayed job fires at the time itself)."""
    _require_can_publish(actor, model)
    at = _future(at)
    check_transition(_label(model), model.status, S.Scheduled)
    versions = [v for v in readiness.versions_to_bring(model, version_ids, utcnow())[0] if v.status == S.Draft]
    if not versions:
        raise Conflict("A model needs at least one draft version with a file to be scheduled")
    for version in versions:
        readiness.check_publishable(version)
    _move(session, model, S.Scheduled, actor, trigger="manual")
    model.scheduled_for = at
    for version in versions:
        _move(session, version, S.Scheduled, actor, trigger="manual")
        version.scheduled_for = at
    _send_at(session, at)
    effects.after_change(session, model)


def schedule_version(session: Session, version: ModelVersion, actor: User | None, *, at: datetime) -> None:
    """A new version of a published model, Draft → Scheduled."""
    _require_can_publish(actor, version.model)
    at = _future(at)
    check_transition(_label(version), version.status, S.Scheduled)
    readiness.check_publishable(version)
    _move(session, version, S.Scheduled, actor, trigger="manual")
    version.scheduled_for = at
    _send_at(session, at)
    effects.after_change(session, version.model)


def cancel_schedule(session: Session, entity: Model | ModelVersion, actor: User | None) -> None:
    """Scheduled → Draft, for a model (with its scheduled versions) or one version."""
    model = entity if isinstance(entity, Model) else entity.model
    _require_manager(actor, model)
    if entity.status != S.Scheduled:
        raise Conflict(
            f"{_label(entity)} is {entity.status.value}; only Scheduled content has a schedule to cancel",
            status=entity.status.value,
            allowed=[s.value for s in TRANSITIONS[entity.status]],
        )
    targets: list[Model | ModelVersion] = [entity]
    if isinstance(entity, Model):
        targets += [v for v in entity.versions if v.status == S.Scheduled]
    for target in targets:
        _move(session, target, S.Draft, actor, trigger="manual")
        target.scheduled_for = None
    effects.after_change(session, model)


def _future(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValidationFailed("The scheduled time needs a time zone (for example 2030-01-01T12:00:00Z)")
    if at <= utcnow():
        raise ValidationFailed("The scheduled time must be in the future")
    return at


def _send_at(session: Session, at: datetime) -> None:
    delay = max(0.0, (at - utcnow()).total_seconds())
    enqueue(session, "catalog.publish_scheduled_now", delay=delay, dedupe_key=f"catalog.publish_at:{at.isoformat()}")


# --- unpublishing and deleting ---------------------------------------------------------------------------------


def _unpublish_target(kind: UnpublishKind) -> ModelStatus:
    return S.UnpublishedViolation if kind in _VIOLATION_KINDS else S.Unpublished


def _check_unpublish_rights(
    actor: User | None, model: Model, kind: UnpublishKind, versions: Iterable[ModelVersion], reason: str | None
) -> None:
    if kind in (UnpublishKind.violation, UnpublishKind.legal) and not _is_staff(actor):
        raise Forbidden("Only moderators unpublish for a violation or a legal request")
    if kind in (UnpublishKind.scan, UnpublishKind.ban) and actor is not None and not policy.is_moderator(actor):
        raise Forbidden("Scan and ban unpublishing is done by the system")
    _require_manager(actor, model)
    if kind in _VIOLATION_KINDS and not reason:
        raise ValidationFailed("Say why: a reason is required to unpublish for a violation")
    if not _is_staff(actor) and effects.had_early_access_purchase(versions):
        raise Forbidden("People have bought early access to this; only a moderator can unpublish it now")


def unpublish_model(
    session: Session,
    model: Model,
    actor: User | None,
    *,
    kind: UnpublishKind = UnpublishKind.voluntary,
    reason: str | None = None,
    message: str | None = None,
) -> None:
    """Take a model down with all its versions; their posts are hidden and remember when they were published."""
    reason = _clean_text(reason, "reason")
    message = _clean_text(message, "message")
    _check_unpublish_rights(actor, model, kind, model.versions, reason)
    target = _unpublish_target(kind)
    check_transition(_label(model), model.status, target)
    now = utcnow()
    _move(session, model, target, actor, trigger=_trigger(kind), reason=reason, message=message)
    model.meta = effects.mark_unpublished(model.meta, actor, now, unpublishedReason=reason, customMessage=message)
    versions = _take_versions_down_with(session, model, actor, now, _trigger(kind), reason, message)
    effects.hide_version_content(session, effects.ids_of(versions), actor, now)
    effects.refresh_last_version_at(session, model)
    effects.after_change(session, model)
    notices.tell_owner_of_takedown(session, model, None, kind=kind, reason=reason, message=message)


def _take_versions_down_with(
    session: Session,
    model: Model,
    actor: User | None,
    now: datetime,
    trigger: str,
    reason: str | None,
    message: str | None,
) -> list[ModelVersion]:
    """The specification: every version of an unpublished model becomes Unpublished, the Scheduled ones too (they
    keep their time, for a republish before it). Returns the versions taken down; they carry
    `meta.unpublishedWithModel`, so republishing the model brings back exactly these."""
    versions = [v for v in model.versions if v.status in (S.Published, S.Scheduled)]
    for version in versions:
        carried = version.status == S.Scheduled
        _move(session, version, S.Unpublished, actor, trigger=trigger, reason=reason, carried=carried)
        version.meta = effects.mark_unpublished(
            version.meta, actor, now, unpublishedReason=reason, customMessage=message, unpublishedWithModel=True
        )
    return versions


def unpublish_version(
    session: Session,
    version: ModelVersion,
    actor: User | None,
    *,
    kind: UnpublishKind = UnpublishKind.voluntary,
    reason: str | None = None,
    message: str | None = None,
) -> None:
    """Take one version down. When it was the model's last published version, the model goes down with it."""
    model = version.model
    reason = _clean_text(reason, "reason")
    message = _clean_text(message, "message")
    _check_unpublish_rights(actor, model, kind, [version], reason)
    target = _unpublish_target(kind)
    check_transition(_label(version), version.status, target)
    now = utcnow()
    _move(session, version, target, actor, trigger=_trigger(kind), reason=reason, message=message)
    version.meta = effects.mark_unpublished(version.meta, actor, now, unpublishedReason=reason, customMessage=message)
    effects.hide_version_content(session, [version.id], actor, now)
    effects.refresh_last_version_at(session, model)
    if model.status == S.Published and not any(v.status == S.Published for v in model.versions):
        _move(session, model, target, actor, trigger=_trigger(kind), reason="Its last published version went down")
        model.meta = effects.mark_unpublished(model.meta, actor, now, unpublishedReason=reason, customMessage=message)
        _take_versions_down_with(session, model, actor, now, _trigger(kind), reason, message)  # its Scheduled ones
    effects.after_change(session, model)
    notices.tell_owner_of_takedown(session, model, version, kind=kind, reason=reason, message=message)


def _trigger(kind: UnpublishKind) -> str:
    return "manual" if kind == UnpublishKind.voluntary else kind.value


def delete_model(session: Session, model: Model, actor: User | None) -> None:
    """Soft delete: hidden from everyone but moderators; files are purged after the retention period."""
    _require_manager(actor, model)
    if not _is_staff(actor) and effects.had_early_access_purchase(model.versions):
        raise Forbidden("People have bought early access to this; only a moderator can delete it now")
    check_transition(_label(model), model.status, S.Deleted)
    now = utcnow()
    _move(session, model, S.Deleted, actor, trigger="manual")
    model.deleted_at = now
    model.deleted_by = actor.id if actor else None
    versions = [v for v in model.versions if v.status != S.Deleted]
    for version in versions:
        _move(session, version, S.Deleted, actor, trigger="manual")
        version.deleted_at = now
        version.meta = {**(version.meta or {}), DELETED_WITH_MODEL: True}
    effects.hide_version_content(session, effects.ids_of(versions), actor, now)
    effects.refresh_last_version_at(session, model)
    effects.after_change(session, model)
    placement.place_after_commit(session, effects.ids_of(model.versions))  # download URLs handed out stop working


def delete_version(session: Session, version: ModelVersion, actor: User | None) -> None:
    model = version.model
    _require_manager(actor, model)
    if not _is_staff(actor) and effects.had_early_access_purchase([version]):
        raise Forbidden("People have bought early access to this version; only a moderator can delete it now")
    check_transition(_label(version), version.status, S.Deleted)
    now = utcnow()
    _move(session, version, S.Deleted, actor, trigger="manual")
    version.deleted_at = now
    effects.hide_version_content(session, [version.id], actor, now)
    effects.refresh_last_version_at(session, model)
    if model.status == S.Published and not any(v.status == S.Published for v in model.versions):
        _move(session, model, S.Unpublished, actor, trigger="system", reason="Its last published version was deleted")
        model.meta = effects.mark_unpublished(model.meta, actor, now)
        _take_versions_down_with(session, model, actor, now, "system", None, None)  # its Scheduled ones
    effects.after_change(session, model)
    placement.place_after_commit(session, [version.id])  # download URLs handed out stop working


def restore_model(session: Session, model: Model, actor: User | None) -> None:
    """A moderator undoes a deletion (before the purge): Deleted → Unpublished, for the owner to republish."""
    check_transition(_label(model), model.status, S.Unpublished)
    if not _is_staff(actor):
        raise Forbidden("Only a moderator can restore a deleted model")
    if any(file.data_purged for version in model.versions for file in version.files):
        raise Conflict("The files of this model were purged; it cannot be restored")
    now = utcnow()
    _move(session, model, S.Unpublished, actor, trigger="manual")
    model.deleted_at = model.deleted_by = None
    model.meta = effects.mark_unpublished(model.meta, actor, now)
    for version in model.versions:
        if version.status == S.Deleted and version.meta.get(DELETED_WITH_MODEL):
            _move(session, version, S.Unpublished, actor, trigger="manual")
            version.deleted_at = None
            meta = {key: value for key, value in version.meta.items() if key != DELETED_WITH_MODEL}
            version.meta = effects.mark_unpublished(meta, actor, now, unpublishedWithModel=True)
    effects.after_change(session, model)
    placement.place_after_commit(session, effects.ids_of(model.versions))  # the files' objects come back
