"""The wizard's image step, `/model-versions/{id}/images`: the owner adds a version's showcase pictures, orders
them, picks the cover and removes some.

Every action is a plain form, so the page works without JavaScript (several files go up as one multipart form,
its CSRF token in the action URL); `images.js` does the same through the JSON API (`images.routes`), with drag and
drop, a progress bar per file and no reload.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import ModelVersion
from modelyard.catalog.pages.edit import wizard_steps
from modelyard.core.errors import AppError, NotFound
from modelyard.core.http import SessionDep
from modelyard.core.params import Id
from modelyard.images import showcases
from modelyard.images.ingest.checks import max_upload_bytes
from modelyard.images.routes import read_uploads, showcase_out
from modelyard.images.service import MAX_POST_IMAGES
from modelyard.images.showcases import MAX_SHOWCASE_IMAGES
from modelyard.web.toolkit import form_failed, login_required, page, register_flash, see_other

router = APIRouter(include_in_schema=False)
TEMPLATE = "catalog/version_images.html"
register_flash(
    {
        "images-added": "The images are added.",
        "cover-set": "The cover is changed.",
        "images-moved": "The order is saved.",
        "image-removed": "The image is removed.",
    }
)
MediaWriter = Annotated[User, Depends(login_required(TokenScope.MediaWrite, after_post="/my/models"))]
ACCEPT = "image/png,image/jpeg,image/webp,image/gif"


def owned_version(session: Session, user: User, version_id: int) -> ModelVersion:
    """The version if `user` owns its model; anyone else gets the site's 404 (pages never say what exists)."""
    version = visibility.get_version(session, user, version_id)
    if version.model.user_id != user.id:
        raise NotFound(f"No model version with id {version_id}")
    return version


def _context(session: Session, version: ModelVersion) -> dict[str, Any]:
    return {
        "model": version.model,
        "edited": version,
        "showcase": showcase_out(session, version),
        "max_images": MAX_SHOWCASE_IMAGES,
        "max_batch": MAX_POST_IMAGES,
        "max_megabytes": max_upload_bytes() // (1024 * 1024),
        "accept": ACCEPT,
        "steps": wizard_steps(version.model, "images"),
        "step": "images",
    }


def _done(version: ModelVersion, key: str) -> RedirectResponse:
    return see_other(f"/model-versions/{version.id}/images", done=key)


def _failed(request: Request, session: Session, user: User, version_id: int, error: AppError) -> HTMLResponse:
    """The page again, as it still is, with what went wrong (rolled back first: nothing changed)."""
    session.rollback()
    context = _context(session, owned_version(session, user, version_id))
    return form_failed(request, session, TEMPLATE, context, error)


@router.get("/model-versions/{version_id:int}/images", response_class=HTMLResponse)
def images_page(request: Request, version_id: Id, user: MediaWriter, session: SessionDep) -> Response:
    return page(request, TEMPLATE, _context(session, owned_version(session, user, version_id)))


@router.post("/model-versions/{version_id:int}/images", response_class=HTMLResponse)
def add_images(
    request: Request,
    version_id: Id,
    user: MediaWriter,
    principal: PrincipalDep,
    session: SessionDep,
    images: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """Multipart form; its CSRF token travels in the action URL (multipart bodies are not buffered for it)."""
    version = owned_version(session, user, version_id)
    try:
        policy.require_can_post(principal)
        chosen = [upload for upload in images or [] if upload.filename]
        prepared, names = read_uploads(chosen, most=MAX_POST_IMAGES)
        showcases.add(session, user, version, prepared, names=names)
    except AppError as exc:
        return _failed(request, session, user, version_id, exc)
    return _done(version, "images-added")


@router.post("/model-versions/{version_id:int}/images/{image_id:int}/cover", response_class=HTMLResponse)
def make_cover(request: Request, version_id: Id, image_id: Id, user: MediaWriter, session: SessionDep) -> Response:
    version = owned_version(session, user, version_id)
    try:
        showcases.set_cover(session, user, version, image_id)
    except AppError as exc:
        return _failed(request, session, user, version_id, exc)
    return _done(version, "cover-set")


@router.post("/model-versions/{version_id:int}/images/{image_id:int}/move", response_class=HTMLResponse)
def move_image(
    request: Request,
    version_id: Id,
    image_id: Id,
    user: MediaWriter,
    session: SessionDep,
    direction: Annotated[Literal["earlier", "later"], Form()],
) -> Response:
    """One place earlier or later: the order, a step at a time, without dragging."""
    version = owned_version(session, user, version_id)
    try:
        order = [item.image.id for item in showcases.arranged(session, version)]
        if image_id not in order:
            raise NotFound(f"No image {image_id} in this version's showcase")
        at = order.index(image_id)
        to = max(0, min(len(order) - 1, at + (1 if direction == "later" else -1)))
        order.insert(to, order.pop(at))
        showcases.reorder(session, user, version, order)
    except AppError as exc:
        return _failed(request, session, user, version_id, exc)
    return _done(version, "images-moved")


@router.post("/model-versions/{version_id:int}/images/{image_id:int}/remove", response_class=HTMLResponse)
def remove_image(request: Request, version_id: Id, image_id: Id, user: MediaWriter, session: SessionDep) -> Response:
    version = owned_version(session, user, version_id)
    try:
        showcases.remove(session, user, version, image_id)
    except AppError as exc:
        return _failed(request, session, user, version_id, exc)
    return _done(version, "image-removed")
