"""Appeals: the owner of a blocked image, or of a model or version taken down for a violation, contests it once,
with a message; a moderator upholds the decision or reverses it (the image unblocked, the model published again),
and the owner is told.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog import service as catalog_service
from modelyard.catalog.enums import ModelModifier, ModelStatus
from modelyard.catalog.lifecycle import transitions
from modelyard.catalog.models import Model, ModelVersion
from modelyard.catalog.schemas import ModelUpdate
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from modelyard.core.params import ID_MAX
from modelyard.images import moderate as image_moderation
from modelyard.images.models import Image, Ingestion
from modelyard.moderation import claims, journal, notices
from modelyard.moderation.models import Appeal, AppealStatus, ReviewItem, ReviewQueue
from modelyard.moderation.queues import close_item, open_item_of, open_review
from modelyard.moderation.reportables import Subject, label_of, require_subject

MAX_MESSAGE = 4000
APPEALABLE_TYPES = ("image", "model", "version")


def appealable(session: Session, entity_type: str, entity_id: int) -> bool:
    """Whether the thing stands under a decision an owner may contest."""
    if entity_type == "image":
        image = session.get(Image, entity_id)
        return image is not None and image.ingestion == Ingestion.Blocked
    if entity_type == "model":
        model = session.get(Model, entity_id)
        return model is not None and (
            model.status == ModelStatus.UnpublishedViolation or model.mode == ModelModifier.TakenDown
        )
    if entity_type == "version":
        version = session.get(ModelVersion, entity_id)
        return version is not None and version.status == ModelStatus.UnpublishedViolation
    return False


def file_appeal(session: Session, user: User, entity_type: str, entity_id: int, message: str) -> Appeal:
    """The owner's one appeal of a thing; it joins the appeal queue."""
    subject = require_subject(session, user, entity_type, entity_id)
    if subject.owner_id != user.id:
        raise Forbidden("Only the owner can appeal")
    if entity_type not in APPEALABLE_TYPES or not appealable(session, entity_type, entity_id):
        raise Conflict(f"This {label_of(entity_type).lower()} is not under a decision you can appeal")
    message = (message or "").strip()
    if not message:
        raise ValidationFailed("Tell the moderators why the decision is wrong", field="message")
    if len(message) > MAX_MESSAGE or "\x00" in message:
        raise ValidationFailed(f"A message is at most {MAX_MESSAGE} characters of text", field="message")
    if find_appeal(session, user.id, entity_type, entity_id) is not None:
        raise Conflict("You have appealed this already: an appeal is heard once")
    try:
        with session.begin_nested():
            appeal = Appeal(
                entity_type=entity_type, entity_id=entity_id, user_id=user.id, message=message, created_at=utcnow()
            )
            session.add(appeal)
            session.flush()
    except IntegrityError:
        raise Conflict("You have appealed this already: an appeal is heard once") from None
    open_review(session, ReviewQueue.appeal, entity_type, entity_id, detail={"appeal_id": appeal.id})
    journal.record(session, user, entity_type, entity_id, "appeal", reason=message, detail={"appeal": appeal.id})
    return appeal


def find_appeal(session: Session, user_id: int, entity_type: str, entity_id: int) -> Appeal | None:
    return session.scalar(
        select(Appeal).where(
            Appeal.user_id == user_id, Appeal.entity_type == entity_type, Appeal.entity_id == entity_id
        )
    )


def get_appeal(session: Session, appeal_id: int) -> Appeal:
    appeal = session.get(Appeal, appeal_id) if 0 < appeal_id <= ID_MAX else None
    if appeal is None:
        raise NotFound(f"No appeal with id {appeal_id}")
    return appeal


def appeal_of_item(session: Session, item: ReviewItem) -> Appeal | None:
    appeal_id = (item.detail or {}).get("appeal_id")
    return session.get(Appeal, appeal_id) if isinstance(appeal_id, int) else None


def decide(session: Session, actor: User, appeal: Appeal, *, reverse: bool, note: str | None = None) -> Appeal:
    """Uphold or reverse: the queue's item is claimed first (refused when another moderator holds it)."""
    if appeal.status != AppealStatus.Pending:
        raise Conflict(f"This appeal is decided already ({appeal.status.value})")
    note = (note or "").strip() or None
    if note and (len(note) > MAX_MESSAGE or "\x00" in note):
        raise ValidationFailed(f"A note is at most {MAX_MESSAGE} characters of text", field="note")
    item = open_item_of(session, ReviewQueue.appeal, appeal.entity_type, appeal.entity_id)
    if item is not None:
        claims.claim(session, item, actor)
    subject = require_subject(session, actor, appeal.entity_type, appeal.entity_id)
    if reverse:
        _undo(session, actor, appeal)
    appeal.status = AppealStatus.Reversed if reverse else AppealStatus.Upheld
    appeal.decided_by_id = actor.id
    appeal.decided_at = utcnow()
    appeal.decision_note = note
    session.flush()
    action = "reverse" if reverse else "uphold"
    if item is not None:
        close_item(session, item, actor.id, action)
    journal.record(
        session,
        actor,
        appeal.entity_type,
        appeal.entity_id,
        action,
        reason=note,
        detail={"appeal": appeal.id},
        review_item_id=item.id if item else None,
    )
    notices.tell_appellant(session, appeal.user_id, _what(subject), reversed_=reverse, note=note)
    return appeal


def _what(subject: Subject) -> str:
    return f'your {label_of(subject.entity_type).lower()} "{subject.title}"'


def _undo(session: Session, actor: User, appeal: Appeal) -> None:
    if not appealable(session, appeal.entity_type, appeal.entity_id):
        return  # undone some other way meanwhile
    if appeal.entity_type == "image":
        image = session.get(Image, appeal.entity_id)
        assert image is not None
        image_moderation.unblock(session, image)
    elif appeal.entity_type == "model":
        model = session.get(Model, appeal.entity_id)
        assert model is not None
        if model.mode == ModelModifier.TakenDown:
            catalog_service.update_model(session, actor, model, ModelUpdate(clear_mode=True))
        if model.status == ModelStatus.UnpublishedViolation:
            transitions.publish_model(session, model, actor)
    else:
        version = session.get(ModelVersion, appeal.entity_id)
        assert version is not None
        transitions.publish_version(session, version, actor)
