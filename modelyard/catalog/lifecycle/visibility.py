"""Who sees which model and version: one rule, used by pages, the JSON API, the public API, search, image feeds
and downloads.

Published content that is not Private is everyone's. Anything else (drafts, scheduled, unpublished, private) is
seen only by its owner and by moderators; deleted content only by moderators. Unsearchable content is visible
by its address but left out of lists and search (`listable_models`).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.catalog.enums import Availability, ModelStatus
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.errors import NotFound

_HIDDEN_AVAILABILITY = (Availability.Private,)


def can_view_model(viewer: User | None, model: Model) -> bool:
    if model.status == ModelStatus.Deleted:
        return policy.is_moderator(viewer)
    if policy.is_owner_or_moderator(viewer, model.user_id):
        return True
    return model.status == ModelStatus.Published and model.availability not in _HIDDEN_AVAILABILITY


def can_view_version(viewer: User | None, version: ModelVersion, model: Model | None = None) -> bool:
    model = model or version.model
    if not can_view_model(viewer, model):
        return False
    if version.status == ModelStatus.Deleted:
        return policy.is_moderator(viewer)
    if policy.is_owner_or_moderator(viewer, model.user_id):
        return True
    return version.status == ModelStatus.Published and version.availability not in _HIDDEN_AVAILABILITY


def visible_models(viewer: User | None) -> ColumnElement[bool]:
    """`can_view_model` as a WHERE clause."""
    public = and_(Model.status == ModelStatus.Published, Model.availability.not_in(_HIDDEN_AVAILABILITY))
    if policy.is_moderator(viewer):
        return true()
    if viewer is None or viewer.is_banned:
        return public
    return or_(public, and_(Model.user_id == viewer.id, Model.status != ModelStatus.Deleted))


def visible_versions(viewer: User | None) -> ColumnElement[bool]:
    """`can_view_version` as a WHERE clause on a query joined to Model."""
    public = and_(
        Model.status == ModelStatus.Published,
        Model.availability.not_in(_HIDDEN_AVAILABILITY),
        ModelVersion.status == ModelStatus.Published,
        ModelVersion.availability.not_in(_HIDDEN_AVAILABILITY),
    )
    if policy.is_moderator(viewer):
        return true()
    if viewer is None or viewer.is_banned:
        return public
    owned = and_(
        Model.user_id == viewer.id, Model.status != ModelStatus.Deleted, ModelVersion.status != ModelStatus.Deleted
    )
    return or_(public, owned)


def listable_models(viewer: User | None) -> ColumnElement[bool]:
    """What lists and search show: visible, and not Unsearchable (except to its owner)."""
    unsearchable = Model.availability == Availability.Unsearchable
    own = Model.user_id == viewer.id if viewer is not None else false()
    return and_(visible_models(viewer), or_(~unsearchable, own))


def sees_only_public(session: Session, viewer: User | None) -> bool:
    """Whether the viewer sees exactly what an anonymous visitor sees: not a moderator (who sees everything), and
    owning no model that is not deleted (an owner sees their own unlisted models and unpublished versions). Most
    signed-in callers of the public API own nothing, and can be given the pages anyone gets."""
    if viewer is None:
        return True
    if policy.is_moderator(viewer):
        return False
    owns = select(Model.id).where(Model.user_id == viewer.id, Model.status != ModelStatus.Deleted).limit(1)
    return session.scalar(owns) is None


def get_model(session: Session, viewer: User | None, model_id: int) -> Model:
    """The model if the viewer may see it; otherwise the same 404 as for a model that does not exist, so ids
    cannot be probed."""
    model = session.get(Model, model_id) if 0 < model_id < 2**31 else None
    if model is None or not can_view_model(viewer, model):
        raise NotFound(f"No model with id {model_id}")
    return model


def get_version(session: Session, viewer: User | None, version_id: int) -> ModelVersion:
    version = session.get(ModelVersion, version_id) if 0 < version_id < 2**31 else None
    if version is None or not can_view_version(viewer, version):
        raise NotFound(f"No model version with id {version_id}")
    return version


def visible_version_ids(session: Session, viewer: User | None, model_id: int) -> list[int]:
    query = (
        select(ModelVersion.id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(ModelVersion.model_id == model_id, visible_versions(viewer))
        .order_by(ModelVersion.index)
    )
    return list(session.scalars(query))
