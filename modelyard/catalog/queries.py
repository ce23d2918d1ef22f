"""Read paths shared by the JSON API and the pages: a model with everything its page shows in a fixed number of
queries, an owner's dashboard, and the cached content overview."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from modelyard.accounts.models import User
from modelyard.catalog import service
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.files.service import primary_file
from modelyard.catalog.lifecycle import effects, visibility
from modelyard.catalog.models import Model, ModelFile, ModelVersion, StatusTransition
from modelyard.catalog.schemas import FileOut, ModelOut, ModelSummary, TransitionOut, VersionOut
from modelyard.core import paging
from modelyard.core.errors import NotFound
from modelyard.core.paging import Page
from modelyard.core.runtime import get_runtime

DASHBOARD_PAGE = 50
OVERVIEW_TTL = 300


def load_model(session: Session, viewer: User | None, model_id: int) -> Model:
    """The model with its versions, files and hashes (four queries), if the viewer may see it."""
    model = (
        session.scalar(
            select(Model)
            .where(Model.id == model_id)
            .options(selectinload(Model.versions).selectinload(ModelVersion.files).selectinload(ModelFile.hashes))
        )
        if 0 < model_id < 2**31
        else None
    )
    if model is None or not visibility.can_view_model(viewer, model):
        raise NotFound(f"No model with id {model_id}")
    return model


def visible_versions_of(viewer: User | None, model: Model) -> list[ModelVersion]:
    return [version for version in model.versions if visibility.can_view_version(viewer, version, model)]


def file_out(file: ModelFile, *, primary: bool) -> FileOut:
    return FileOut(
        id=file.id,
        name=file.name,
        type=file.type,
        size_kb=file.size_kb,
        metadata=file.metadata_ or {},
        visibility=file.visibility,
        primary=primary,
        pickle_scan_result=file.pickle_scan_result,
        virus_scan_result=file.virus_scan_result,
        scanned_at=file.scanned_at,
        hashes={row.type.value: row.hash for row in file.hashes},
        inspection=file.header_data,
        conversion=file.conversion,
    )


def version_out(version: ModelVersion) -> VersionOut:
    live = [file for file in version.files if file.replaced_at is None]
    primary = primary_file(live)
    return VersionOut(
        id=version.id,
        model_id=version.model_id,
        index=version.index,
        name=version.name,
        description=version.description,
        description_html=version.description_html,
        base_model=version.base_model,
        base_model_type=version.base_model_type,
        trained_words=version.trained_words or [],
        clip_skip=version.clip_skip,
        steps=version.steps,
        epochs=version.epochs,
        require_auth=version.require_auth,
        usage_control=version.usage_control,
        availability=version.availability,
        early_access_days=version.early_access_days,
        early_access_price=version.early_access_price,
        early_access_ends_at=version.early_access_ends_at,
        status=version.status,
        published_at=version.published_at,
        scheduled_for=version.scheduled_for,
        meta=version.meta or {},
        files=[file_out(file, primary=file is primary) for file in live],
        created_at=version.created_at,
        updated_at=version.updated_at,
    )


def model_out(session: Session, viewer: User | None, model: Model) -> ModelOut:
    owner = session.get(User, model.user_id)
    return ModelOut(
        id=model.id,
        name=model.name,
        description=model.description,
        description_html=model.description_html,
        type=model.type,
        status=model.status,
        checkpoint_type=model.checkpoint_type,
        availability=model.availability,
        mode=model.mode,
        nsfw=model.nsfw,
        poi=model.poi,
        minor=model.minor,
        allow_no_credit=model.allow_no_credit,
        allow_commercial_use=model.allow_commercial_use or [],
        allow_derivatives=model.allow_derivatives,
        allow_different_license=model.allow_different_license,
        tags=service.tags_of(session, [model.id])[model.id],
        meta=model.meta or {},
        user={"id": model.user_id, "username": owner.username if owner else None},
        published_at=model.published_at,
        scheduled_for=model.scheduled_for,
        last_version_at=model.last_version_at,
        created_at=model.created_at,
        updated_at=model.updated_at,
        versions=[version_out(version) for version in visible_versions_of(viewer, model)],
    )


def owner_models(
    session: Session, owner_id: int, *, status: ModelStatus | None = None, page: int = 1
) -> list[ModelSummary]:
    """The models of one page of an owner's dashboard (`owner_models_page`)."""
    return owner_models_page(session, owner_id, status=status, page=page).items


def owner_models_page(
    session: Session, owner_id: int, *, status: ModelStatus | None = None, page: int = 1
) -> Page[ModelSummary]:
    """One page of an owner's models (deleted ones left out), newest change first, with version counts: one
    query, whatever the catalog's size (`ix_model_user_status`). Not a listing of `catalog.browsing`: an owner
    manages their models here in every status, and the public listing's rules do not apply."""
    # Counted per listed model (a correlated subquery on ix_model_version_model_index), not grouped over every
    # version in the catalog first.
    version_count = (
        select(func.count())
        .where(ModelVersion.model_id == Model.id, ModelVersion.status != ModelStatus.Deleted)
        .correlate(Model)
        .scalar_subquery()
    )
    asked = paging.page_request(limit=DASHBOARD_PAGE, default_limit=DASHBOARD_PAGE, max_limit=DASHBOARD_PAGE, page=page)
    query = select(Model, version_count).where(Model.user_id == owner_id)
    query = query.where(Model.status == status) if status else query.where(Model.status != ModelStatus.Deleted)
    found = session.execute(
        query.order_by(Model.updated_at.desc(), Model.id.desc()).limit(asked.limit + 1).offset(asked.offset)
    ).all()
    rows, more = paging.take(found, asked.limit)
    items = [
        ModelSummary(
            id=model.id,
            name=model.name,
            type=model.type,
            status=model.status,
            availability=model.availability,
            published_at=model.published_at,
            scheduled_for=model.scheduled_for,
            last_version_at=model.last_version_at,
            updated_at=model.updated_at,
            version_count=count,
        )
        for model, count in rows
    ]
    return Page(items=items, has_next=more, number=asked.page)


def content_overview(session: Session, user_id: int) -> dict[str, int]:
    """How many models the user has in each status: cached, and invalidated by every change of status."""

    def load() -> dict[str, int]:
        rows = session.execute(
            select(Model.status, func.count()).where(Model.user_id == user_id).group_by(Model.status)
        ).all()
        return {status.value: count for status, count in rows}

    return get_runtime().cache.get_or_set(
        f"catalog:overview:{user_id}", load, ttl=OVERVIEW_TTL, tags=[effects.content_tag(user_id)]
    )


def transitions(
    session: Session, *, model_id: int | None = None, before: int | None = None, limit: int = 100
) -> list[TransitionOut]:
    """The transition log, newest first, with the actors' names (two queries): `transition_page`'s items."""
    return transition_page(session, model_id=model_id, before=before, limit=limit).items


def transition_page(
    session: Session, *, model_id: int | None = None, before: int | None = None, limit: int = 100
) -> Page[TransitionOut]:
    """One page of the transition log, newest first, from the entry `before` (an id: the cursor of the page
    before, `next_cursor` of this one)."""
    query = select(StatusTransition).order_by(StatusTransition.id.desc()).limit(limit + 1)
    if model_id is not None:
        query = query.where(StatusTransition.model_id == model_id)
    if before is not None:
        query = query.where(StatusTransition.id < before)
    rows, more = paging.take(session.scalars(query).all(), limit)
    actor_ids = {row.actor_id for row in rows if row.actor_id is not None}
    names: dict[int, Any] = (
        {row.id: row.username for row in session.execute(select(User.id, User.username).where(User.id.in_(actor_ids)))}
        if actor_ids
        else {}
    )
    items = [
        TransitionOut.model_validate(row).model_copy(
            update={"actor": names.get(row.actor_id) if row.actor_id else None}
        )
        for row in rows
    ]
    return Page(items=items, has_next=more, next_cursor=paging.encode_cursor(rows[-1].id) if more else None)
