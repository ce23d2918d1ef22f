"""The model page (versions as tabs, files and hashes, gallery), its history, and the owner's and moderators'
actions on it (unpublish, delete, cancel a schedule, restore). Publishing is a step of the wizard
(`edit_pages`)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from modelyard.accounts import policy
from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog import queries
from modelyard.catalog.enums import ModelStatus, UnpublishKind
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import Model
from modelyard.catalog.pages.common import (
    CatalogReader,
    CatalogWriter,
    ModelActions,
    back_to,
    catalog_page,
    see_other,
)
from modelyard.catalog.pages.dashboard import dashboard_context
from modelyard.catalog.routes.models import Viewer
from modelyard.catalog.schemas import ModelOut, VersionOut
from modelyard.core.errors import AppError, NotFound, ValidationFailed
from modelyard.core.http import SessionDep
from modelyard.core.params import Id
from modelyard.images.models import Post
from modelyard.images.visibility import model_shows_images

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form()]
GALLERY_POSTS = 30
HISTORY_LIMIT = 500
HASH_ORDER = ("SHA256", "AutoV1", "AutoV2", "AutoV3", "CRC32", "BLAKE3")
UNPUBLISH_KINDS = {kind.value: kind for kind in (UnpublishKind.voluntary, UnpublishKind.violation, UnpublishKind.legal)}


def gallery(session: Session, version_id: int, *, everything: bool) -> list[Post]:
    """The version's posts with their images (two queries): published ones, or every one for its managers."""
    query = (
        select(Post)
        .where(Post.model_version_id == version_id)
        .options(selectinload(Post.images))
        .order_by(Post.published_at.is_(None), Post.id)
        .limit(GALLERY_POSTS)
    )
    if not everything:
        query = query.where(Post.published_at.is_not(None))
    return list(session.scalars(query))


def _pick_version(out: ModelOut, version_id: int | None) -> VersionOut | None:
    if version_id is None:
        return out.versions[0] if out.versions else None
    chosen = next((version for version in out.versions if version.id == version_id), None)
    if chosen is None:
        raise NotFound(f"No model version with id {version_id}")
    return chosen


def model_context(session: Session, viewer: User | None, model_id: int, version_id: int | None) -> dict[str, Any]:
    """Everything the model page shows, in a fixed number of queries whatever the number of versions."""
    model = queries.load_model(session, viewer, model_id)
    out = queries.model_out(session, viewer, model)
    version = _pick_version(out, version_id)
    manages = policy.is_owner_or_moderator(viewer, model.user_id)
    shows_images = model_shows_images(model.mode)  # a model taken down shows none
    posts = gallery(session, version.id, everything=manages) if version and shows_images else []
    return {
        "model": out,
        "selected": version,  # not `version`: base.html shows the site's version under that name
        "posts": posts,
        "image_count": sum(len(post.images) for post in posts),
        "manages": manages,
        "is_owner": viewer is not None and viewer.id == model.user_id,
        "is_moderator": policy.is_moderator(viewer),
        "actions": ModelActions.of(viewer, model.status, model.user_id),
        "file_count": sum(len(v.files) for v in out.versions),
        "hash_order": HASH_ORDER,
        "notice": _owner_notice(out) if manages else None,
    }


def _owner_notice(out: ModelOut) -> dict[str, str] | None:
    meta = out.meta or {}
    reason, message = meta.get("unpublishedReason"), meta.get("customMessage")
    if out.status == ModelStatus.Published or not (reason or message):
        return None
    return {"reason": str(reason or ""), "message": str(message or "")}


def _model_page(
    request: Request,
    session: Session,
    viewer: User | None,
    model_id: int,
    version_id: int | None = None,
    *,
    error: AppError | None = None,
) -> HTMLResponse:
    context = model_context(session, viewer, model_id, version_id)
    if error is not None:
        context.update(flash=None, error=error.detail)
    return catalog_page(
        request, "catalog/model.html", context, status_code=error.status_code if error is not None else 200
    )


@router.get("/models/{model_id:int}", response_class=HTMLResponse)
def model_page(
    request: Request,
    model_id: Id,
    viewer: Viewer,
    session: SessionDep,
    version_id: Annotated[Id | None, Query(alias="modelVersionId")] = None,
) -> Response:
    return _model_page(request, session, viewer, model_id, version_id)


@router.get("/models/{model_id:int}/history", response_class=HTMLResponse)
def history_page(request: Request, model_id: Id, user: CatalogReader, session: SessionDep) -> Response:
    """The model's status changes (its versions' too), for its owner and moderators."""
    model = queries.load_model(session, user, model_id)
    if not policy.is_owner_or_moderator(user, model.user_id):
        raise NotFound(f"No model with id {model_id}")
    context = {
        "model": model,
        "rows": queries.transitions(session, model_id=model_id, limit=HISTORY_LIMIT),
        "version_names": {version.id: version.name for version in model.versions},
        "is_moderator": policy.is_moderator(user),
    }
    return catalog_page(request, "catalog/history.html", context)


# --- actions --------------------------------------------------------------------------------------------------


def managed_model(session: Session, principal: PrincipalDep, user: User, model_id: int) -> Model:
    """The model, if `user` may see it and manage it; acting on someone else's is a moderator's power."""
    model = visibility.get_model(session, user, model_id)
    if not policy.is_owner_or_moderator(user, model.user_id):
        raise NotFound(f"No model with id {model_id}")
    if user.id != model.user_id:
        policy.require_moderator(principal)
    return model


def _action_failed(
    request: Request, session: Session, user: User, model_id: int, back: str, error: AppError
) -> HTMLResponse:
    """The page the action came from again, as it still is, with what went wrong."""
    session.rollback()
    if back.startswith("/my/models"):
        status = parse_qs(urlsplit(back).query).get("status", [""])[0]
        context = {**dashboard_context(session, user, status, 1), "flash": None, "error": error.detail}
        return catalog_page(request, "catalog/dashboard.html", context, status_code=error.status_code)
    return _model_page(request, session, user, model_id, error=error)


def _after_action(model: Model, user: User, back: str, done: str) -> Response:
    if model.status == ModelStatus.Deleted and not policy.is_moderator(user) and not back.startswith("/my/models"):
        back = "/my/models"  # the owner can no longer see the model's page
    return see_other(back_to(back, f"/models/{model.id}"), done=done)


@router.post("/models/{model_id:int}/unpublish", response_class=HTMLResponse)
def unpublish_model(
    request: Request,
    model_id: Id,
    user: CatalogWriter,
    principal: PrincipalDep,
    session: SessionDep,
    kind: Text = "voluntary",
    reason: Text = "",
    custom_message: Text = "",
    back: Text = "",
) -> Response:
    model = managed_model(session, principal, user, model_id)
    try:
        if kind not in UNPUBLISH_KINDS:
            raise ValidationFailed("Choose why the model is unpublished", field="kind")
        if UNPUBLISH_KINDS[kind] != UnpublishKind.voluntary:
            policy.require_moderator(principal)
        lifecycle.unpublish_model(
            session, model, user, kind=UNPUBLISH_KINDS[kind], reason=reason or None, message=custom_message or None
        )
    except AppError as exc:
        return _action_failed(request, session, user, model_id, back, exc)
    return _after_action(model, user, back, "unpublished")


@router.post("/models/{model_id:int}/delete", response_class=HTMLResponse)
def delete_model(
    request: Request, model_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep, back: Text = ""
) -> Response:
    model = managed_model(session, principal, user, model_id)
    try:
        policy.require_scope(principal, TokenScope.ModelsDelete)
        lifecycle.delete_model(session, model, user)
    except AppError as exc:
        return _action_failed(request, session, user, model_id, back, exc)
    return _after_action(model, user, back, "deleted")


@router.post("/models/{model_id:int}/cancel-schedule", response_class=HTMLResponse)
def cancel_schedule(
    request: Request, model_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep, back: Text = ""
) -> Response:
    model = managed_model(session, principal, user, model_id)
    try:
        lifecycle.cancel_schedule(session, model, user)
    except AppError as exc:
        return _action_failed(request, session, user, model_id, back, exc)
    return _after_action(model, user, back, "schedule-cancelled")


@router.post("/models/{model_id:int}/restore", response_class=HTMLResponse)
def restore_model(
    request: Request, model_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    moderator = policy.require_moderator(principal)
    model = visibility.get_model(session, moderator, model_id)
    try:
        lifecycle.restore_model(session, model, moderator)
    except AppError as exc:
        return _action_failed(request, session, user, model_id, "", exc)
    return see_other(f"/models/{model.id}", done="restored")


# Last: the slug is decoration (`/models/12/my-lora`), and the routes above (and the wizard's) come first.
@router.get("/models/{model_id:int}/{slug}", response_class=HTMLResponse)
def model_page_with_slug(
    request: Request,
    model_id: Id,
    slug: str,
    viewer: Viewer,
    session: SessionDep,
    version_id: Annotated[Id | None, Query(alias="modelVersionId")] = None,
) -> Response:
    return _model_page(request, session, viewer, model_id, version_id)
