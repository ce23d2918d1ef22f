"""What takes content down without its owner asking: a ban, a failed file scan, and the clock (scheduled
publishing). Each goes through `lifecycle`, so the transition log says who and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.accounts.moderation import on_user_banned
from modelyard.catalog.enums import ModelStatus, UnpublishKind
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.errors import AppError


@on_user_banned
def unpublish_banned_users_models(session: Session, user: User, actor: User, reason: str) -> None:
    """A ban takes down every published model of the user (Unpublished, so an unban and a republish restore
    them) and calls off anything scheduled."""
    # A ban from the command line has no moderator; the hook then gets the banned user as the actor.
    acting: User | None = actor if actor.id != user.id else None
    models = session.scalars(
        select(Model).where(Model.user_id == user.id, Model.status.in_((ModelStatus.Published, ModelStatus.Scheduled)))
    ).all()
    for model in models:
        if model.status == ModelStatus.Scheduled:
            lifecycle.cancel_schedule(session, model, acting)
        else:
            lifecycle.unpublish_model(
                session, model, acting, kind=UnpublishKind.ban, reason=f"The owner was banned: {reason}"
            )
    for version in session.scalars(
        select(ModelVersion)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(Model.user_id == user.id, ModelVersion.status == ModelStatus.Scheduled)
    ):
        lifecycle.cancel_schedule(session, version, acting)


def unpublish_for_failed_scan(session: Session, file: ModelFile, *, reason: str) -> None:
    """A file failed its malware or pickle scan: its version goes down as a violation (the model too when that was
    its last published version). Versions not yet published cannot be published while the file is there."""
    version = file.version
    if version.status == ModelStatus.Published:
        lifecycle.unpublish_version(
            session, version, None, kind=UnpublishKind.scan, reason=f"File {file.name!r} failed its scan: {reason}"
        )


def publish_due(session: Session, now: datetime) -> int:
    """Publish every model and version whose scheduled time has come; returns how many were published. One that
    can no longer be published (its file was removed) goes back to Draft with the reason in the log."""
    published = 0
    due_models = session.scalars(
        select(Model).where(Model.status == ModelStatus.Scheduled, Model.scheduled_for <= now).order_by(Model.id)
    ).all()
    for model in due_models:
        published += _publish_or_fall_back(session, model)
    due_versions = session.scalars(
        select(ModelVersion)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(
            ModelVersion.status == ModelStatus.Scheduled,
            ModelVersion.scheduled_for <= now,
            Model.status == ModelStatus.Published,
        )
        .order_by(ModelVersion.id)
    ).all()
    for version in due_versions:
        published += _publish_or_fall_back(session, version)
    return published


def _publish_or_fall_back(session: Session, entity: Model | ModelVersion) -> int:
    try:
        with session.begin_nested():
            if isinstance(entity, Model):
                lifecycle.publish_model(session, entity, None, trigger="schedule")
            else:
                lifecycle.publish_version(session, entity, None, trigger="schedule")
        return 1
    except AppError as problem:
        session.refresh(entity)
        lifecycle.cancel_schedule(session, entity, None)
        transition = lifecycle.last_transition(session, entity)
        if transition is not None:
            transition.reason = f"Scheduled publishing failed: {problem.detail}"
        return 0
