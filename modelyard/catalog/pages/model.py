"""The model page (versions as tabs, files and hashes, gallery), its history, and the owner's and moderators'
actions on it (unpublish, delete, cancel a schedule, restore). Publishing is a step of the wizard
(`edit_pages`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from modelyard.accounts import browsing as viewer_browsing
from modelyard.accounts import policy
from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog import access, queries, showcase
from modelyard.catalog.enums import ModelStatus, UnpublishKind
from modelyard.catalog.files import scanning
from modelyard.catalog.lifecycle import effects, readiness, visibility
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model
from modelyard.catalog.pages.common import CatalogReader, CatalogWriter, ModelActions
from modelyard.catalog.pages.dashboard import dashboard_context
from modelyard.catalog.routes.models import Viewer
from modelyard.catalog.schemas import FileOut, ModelOut, VersionOut
from modelyard.core.errors import AppError, NotFound, ValidationFailed
from modelyard.core.http import SessionDep
from modelyard.core.params import Id
from modelyard.web.toolkit import back_to, page, register_flash, see_other

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form()]
HISTORY_LIMIT = 500
HASH_ORDER = ("SHA256", "AutoV1", "AutoV2", "AutoV3", "CRC32", "BLAKE3")
UNPUBLISH_KINDS = {kind.value: kind for kind in (UnpublishKind.voluntary, UnpublishKind.violation, UnpublishKind.legal)}


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
    manages = access.may_write(viewer, model)
    # The version's pictures (`catalog.showcase`): published ones, or every one for its managers.
    pictures = showcase.gallery(session, version.id, drafts=manages) if version else []
    # Pictures outside the viewer's browsing level are left out, except for those who manage the model.
    level = viewer_browsing.browsing_level(viewer)
    shown = [picture for picture in pictures if manages or picture.nsfw_level & level]
    is_owner = viewer is not None and viewer.id == model.user_id
    return {
        "model": out,
        "selected": version,  # not `version`: base.html shows the site's version under that name
        "pictures": shown,
        "hidden_pictures": len(pictures) - len(shown),
        "blur_nsfw": viewer_browsing.blurs_nsfw(viewer),
        "manage_pictures": showcase.manage_url(version.id) if version and is_owner else None,
        "manages": manages,
        "is_owner": is_owner,
        "is_moderator": policy.is_moderator(viewer),
        "actions": ModelActions.of(viewer, model.status, model.user_id),
        "file_count": sum(len(v.files) for v in out.versions),
        "version_actions": VersionActions.of(viewer, model, version.id if version else None),
        "download": _download(model, version),
        "virus_scanner": scanning.virus_scanner_configured(),
        "breakable": breakable,
        "hash_order": HASH_ORDER,
        "notice": _owner_notice(out) if manages else None,
    }


@dataclass(frozen=True)
class VersionActions:
    """The buttons a viewer gets for the version on its page; the lifecycle still decides on submit.

    Unpublish: a published version, for its managers (an owner not once people bought early access). Publish
    again: an unpublished version of a published model, whose files allow it (a violation only by a moderator;
    a muted owner publishes nothing). `takes_model_down`: it is the model's last published version."""

    unpublish: bool = False
    republish: bool = False
    takes_model_down: bool = False

    @classmethod
    def of(cls, viewer: User | None, model: Model, version_id: int | None) -> VersionActions:
        version = next((v for v in model.versions if v.id == version_id), None)
        if version is None or not access.may_write(viewer, model) or model.status == ModelStatus.Deleted:
            return cls()
        staff = policy.is_moderator(viewer)
        unpublish = version.status == ModelStatus.Published and (
            staff or not effects.had_early_access_purchase([version])
        )
        down = (ModelStatus.Unpublished, ModelStatus.UnpublishedViolation) if staff else (ModelStatus.Unpublished,)
        republish = (
            model.status == ModelStatus.Published
            and version.status in down
            and (staff or policy.can_post(viewer))
            and readiness.publishable(version)
        )
        published = [v for v in model.versions if v.status == ModelStatus.Published]
        return cls(unpublish=unpublish, republish=republish, takes_model_down=unpublish and len(published) == 1)


def _download(model: Model, version: VersionOut | None) -> FileOut | None:
    """The selected version's primary file, for the download button at the top of the page (not for a model
    archived or taken down, whose files are not offered)."""
    if version is None or model.mode is not None:
        return None
    return next((file for file in version.files if file.primary), None)


_BREAKS = re.compile(r"([._\-])")


def breakable(name: str) -> Markup:
    """A file name that wraps at its dots, underscores and dashes first (`<wbr>` after each), escaped; CSS breaks
    anywhere only when a piece is still too long."""
    return Markup("").join(Markup("{}<wbr>").format(part) if _BREAKS.fullmatch(part) else part
                           for part in _BREAKS.split(name) if part)  # fmt: skip


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
    return page(request, "catalog/model.html", context, status_code=error.status_code if error is not None else 200)


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
    if not access.may_write(user, model):
        raise NotFound(f"No model with id {model_id}")
    context = {
        "model": model,
        "rows": queries.transitions(session, model_id=model_id, limit=HISTORY_LIMIT),
        "version_names": {version.id: version.name for version in model.versions},
        "is_moderator": policy.is_moderator(user),
    }
    return page(request, "catalog/history.html", context)


# --- actions --------------------------------------------------------------------------------------------------


def _action_failed(
    request: Request, session: Session, user: User, model_id: int, back: str, error: AppError
) -> HTMLResponse:
    """The page the action came from again, as it still is, with what went wrong."""
    session.rollback()
    if back.startswith("/my/models"):
        status = parse_qs(urlsplit(back).query).get("status", [""])[0]
        context = {**dashboard_context(session, user, status, 1), "flash": None, "error": error.detail}
        return page(request, "catalog/dashboard.html", context, status_code=error.status_code)
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
    model = access.model_for_write(session, principal, model_id, hidden=True)
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
    model = access.model_for_write(session, principal, model_id, hidden=True)
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
    model = access.model_for_write(session, principal, model_id, hidden=True)
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


# --- one version's actions -----------------------------------------------------------------------------------

register_flash(
    {
        "version-unpublished": "The version is unpublished: only you and moderators can see it now.",
        "version-republished": "The version is published again.",
    }
)


def _version_action_failed(
    request: Request, session: Session, user: User, model_id: int, version_id: int, error: AppError
) -> HTMLResponse:
    session.rollback()
    return _model_page(request, session, user, model_id, version_id, error=error)


@router.post("/model-versions/{version_id:int}/unpublish", response_class=HTMLResponse)
def unpublish_version(
    request: Request, version_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    """Unpublish one version (voluntarily); the model goes down with its last published version."""
    version = access.version_for_write(session, principal, version_id, hidden=True)
    model = version.model
    try:
        lifecycle.unpublish_version(session, version, user)
    except AppError as exc:
        return _version_action_failed(request, session, user, model.id, version_id, exc)
    done = "unpublished" if model.status != ModelStatus.Published else "version-unpublished"
    return see_other(f"/models/{model.id}?modelVersionId={version_id}", done=done)


@router.post("/model-versions/{version_id:int}/republish", response_class=HTMLResponse)
def republish_version(
    request: Request, version_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    """Publish an unpublished version of a published model again."""
    version = access.version_for_write(session, principal, version_id, hidden=True)
    model_id = version.model_id
    try:
        lifecycle.publish_version(session, version, user)
    except AppError as exc:
        return _version_action_failed(request, session, user, model_id, version_id, exc)
    return see_other(f"/models/{model_id}?modelVersionId={version_id}", done="version-republished")


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
