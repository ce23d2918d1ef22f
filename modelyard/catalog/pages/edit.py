"""The create/edit wizard: the model's details, a version, its files (publishing, its last step, is in
`publish_pages`). Every step is a plain form (files go up as multipart with the CSRF token in the action URL); a
failed step shows the form again with the input and the message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session, object_session

from modelyard.accounts import policy
from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog import access, basemodels, queries, service, showcase
from modelyard.catalog.enums import (
    FILE_FORMATS,
    FILE_FP,
    FILE_SIZES,
    FILE_TYPES,
    CheckpointType,
    ModelStatus,
    ModelType,
)
from modelyard.catalog.files import convert, uploads
from modelyard.catalog.files import service as files
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.catalog.pages.common import CatalogWriter
from modelyard.catalog.routes.uploads import upload_out
from modelyard.catalog.schemas import ModelCreate, ModelUpdate, VersionCreate, VersionUpdate
from modelyard.core.errors import AppError, NotFound, ValidationFailed
from modelyard.core.http import SessionDep
from modelyard.core.params import Id
from modelyard.web.toolkit import form_failed, page, see_other, validated, whole_number

router = APIRouter(include_in_schema=False)

COMMERCIAL_USES = [
    ("None", "No commercial use"),
    ("Image", "Sell images made with it"),
    ("RentCivit", "Run it in this site's generator"),
    ("Rent", "Run it on other generation services"),
    ("Sell", "Sell the model or merges of it"),
]
TEMPLATES = {
    "model": "catalog/model_form.html",
    "version": "catalog/version_form.html",
    "files": "catalog/version_edit.html",
    "publish": "catalog/publish.html",
}


def wizard_steps(model: Model | None, current: str) -> list[dict[str, Any]]:
    """Details → version → files → images → publish, each done or not, with where it is done."""
    versions = [v for v in model.versions if v.status != ModelStatus.Deleted] if model else []
    first = versions[0] if versions else None
    has_files = any(v.files for v in versions)
    live = model is not None and model.status in (ModelStatus.Published, ModelStatus.Scheduled)
    steps = [
        ("model", "Details", model is not None, f"/models/{model.id}/edit" if model else "/models/new"),
        ("version", "Version", first is not None, f"/models/{model.id}/versions/new" if model else None),
        ("files", "Files", has_files, f"/model-versions/{first.id}/edit" if first else None),
        *_images_step(first),
        ("publish", "Publish", live, f"/models/{model.id}/publish" if model and has_files else None),
    ]
    return [
        {"key": key, "label": label, "done": done, "url": url, "current": key == current}
        for key, label, done, url in steps
    ]


def _images_step(version: ModelVersion | None) -> list[tuple[str, str, bool, str | None]]:
    """The version's showcase pictures, when something provides pictures (`catalog.showcase`)."""
    if not showcase.available():
        return []
    if version is None:
        return [("images", "Images", False, None)]
    session = object_session(version)
    pictures = showcase.picture_counts(session, [version.id]).get(version.id, 0) if session else 0
    return [("images", "Images", pictures > 0, showcase.manage_url(version.id))]


def wizard_page(request: Request, step: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    base = {"steps": wizard_steps(context.get("model"), step), "step": step}
    return page(request, TEMPLATES[step], {**base, **context}, status_code=status_code)


def wizard_failed(
    request: Request, session: Session, step: str, error: AppError, context: Callable[[], dict[str, Any]]
) -> HTMLResponse:
    """The step's form again: rolled back first (a service may have flushed before refusing), then rebuilt."""
    session.rollback()
    built = context()
    base = {"steps": wizard_steps(built.get("model"), step), "step": step}
    return form_failed(request, session, TEMPLATES[step], {**base, **built}, error)


def editable_model(session: Session, principal: PrincipalDep, user: User, model_id: int) -> Model:
    access.model_for_write(session, principal, model_id, hidden=True)
    return queries.load_model(session, user, model_id)  # with versions, files and hashes


def editable_version(session: Session, principal: PrincipalDep, user: User, version_id: int) -> ModelVersion:
    version = visibility.get_version(session, user, version_id)
    access.model_for_write(session, principal, version.model_id, hidden=True)
    return version


# --- the model's details --------------------------------------------------------------------------------------


class ModelForm(BaseModel):
    name: str = ""
    type: str = ModelType.LORA.value
    description: str = ""
    tags: str = ""
    checkpoint_type: str = ""
    allow_no_credit: str | None = None
    allow_commercial_use: list[str] = []
    allow_derivatives: str | None = None
    allow_different_license: str | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "description": self.description or None,
            "tags": [tag for tag in (part.strip() for part in self.tags.split(",")) if tag],
            "checkpoint_type": self.checkpoint_type or None,
            "allow_no_credit": self.allow_no_credit is not None,
            "allow_commercial_use": self.allow_commercial_use,
            "allow_derivatives": self.allow_derivatives is not None,
            "allow_different_license": self.allow_different_license is not None,
        }


NEW_MODEL = ModelForm(allow_no_credit="on", allow_commercial_use=["Sell"], allow_derivatives="on")


def _model_values(session: Session, model: Model) -> ModelForm:
    return ModelForm(
        name=model.name,
        type=model.type.value,
        description=model.description or "",
        tags=", ".join(service.tags_of(session, [model.id])[model.id]),
        checkpoint_type=model.checkpoint_type.value if model.checkpoint_type else "",
        allow_no_credit="on" if model.allow_no_credit else None,
        allow_commercial_use=list(model.allow_commercial_use or []),
        allow_derivatives="on" if model.allow_derivatives else None,
        allow_different_license="on" if model.allow_different_license else None,
    )


def _model_form_context(model: Model | None, values: ModelForm) -> dict[str, Any]:
    return {
        "model": model,
        "values": values,
        "types": list(ModelType),
        "checkpoint_types": list(CheckpointType),
        "commercial_uses": COMMERCIAL_USES,
    }


@router.get("/models/new", response_class=HTMLResponse)
def new_model_page(request: Request, user: CatalogWriter) -> Response:
    return wizard_page(request, "model", _model_form_context(None, NEW_MODEL))


@router.post("/models/new", response_class=HTMLResponse)
def create_model(
    request: Request, user: CatalogWriter, session: SessionDep, form: Annotated[ModelForm, Form()]
) -> Response:
    try:
        model = service.create_model(session, user, validated(ModelCreate, form.fields()))
    except AppError as exc:
        return wizard_failed(request, session, "model", exc, lambda: _model_form_context(None, form))
    return see_other(f"/models/{model.id}/edit", done="model-created")


@router.get("/models/{model_id:int}/edit", response_class=HTMLResponse)
def edit_model_page(
    request: Request, model_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    model = editable_model(session, principal, user, model_id)
    return wizard_page(request, "model", _model_form_context(model, _model_values(session, model)))


@router.post("/models/{model_id:int}/edit", response_class=HTMLResponse)
def update_model(
    request: Request,
    model_id: Id,
    user: CatalogWriter,
    principal: PrincipalDep,
    session: SessionDep,
    form: Annotated[ModelForm, Form()],
) -> Response:
    model = access.model_for_write(session, principal, model_id, hidden=True)
    try:
        service.update_model(session, user, model, validated(ModelUpdate, form.fields()))
    except AppError as exc:
        return wizard_failed(request, session, "model", exc, lambda: _model_form_context(model, form))
    return see_other(f"/models/{model_id}/edit", done="model-saved")


# --- versions -------------------------------------------------------------------------------------------------


class VersionForm(BaseModel):
    name: str = ""
    base_model: str = ""
    trained_words: str = ""
    clip_skip: str = ""
    description: str = ""
    early_access_days: str = ""

    def fields(self) -> dict[str, Any]:
        if not self.base_model.strip():
            raise ValidationFailed("Choose the base model this version was trained on", field="base_model")
        return {
            "name": self.name,
            "base_model": self.base_model,
            "trained_words": [word.strip() for word in self.trained_words.splitlines() if word.strip()],
            "clip_skip": whole_number(self.clip_skip, "Clip skip", "clip_skip"),
            "description": self.description or None,
            "early_access_days": whole_number(self.early_access_days, "Early access days", "early_access_days"),
        }


def _version_values(version: ModelVersion) -> VersionForm:
    return VersionForm(
        name=version.name,
        base_model=version.base_model,
        trained_words="\n".join(version.trained_words or []),
        clip_skip=str(version.clip_skip or ""),
        description=version.description or "",
        early_access_days=str(version.early_access_days or ""),
    )


def _version_form_context(
    session: Session, model: Model, version: ModelVersion | None, values: VersionForm
) -> dict[str, Any]:
    families = basemodels.grouped(session, include_hidden=False)
    if values.base_model and all(values.base_model not in family.names for family in families):
        families = [basemodels.Family("Current", [values.base_model]), *families]  # hidden now, still kept
    return {"model": model, "edited": version, "values": values, "base_model_families": families}


@router.get("/models/{model_id:int}/versions/new", response_class=HTMLResponse)
def new_version_page(
    request: Request, model_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    model = editable_model(session, principal, user, model_id)
    values = VersionForm(name="v1.0" if not model.versions else "")
    return wizard_page(request, "version", _version_form_context(session, model, None, values))


@router.post("/models/{model_id:int}/versions/new", response_class=HTMLResponse)
def create_version(
    request: Request,
    model_id: Id,
    user: CatalogWriter,
    principal: PrincipalDep,
    session: SessionDep,
    form: Annotated[VersionForm, Form()],
) -> Response:
    model = access.model_for_write(session, principal, model_id, hidden=True)
    try:
        version = service.create_version(session, user, model, validated(VersionCreate, form.fields()))
    except AppError as exc:
        return wizard_failed(
            request,
            session,
            "version",
            exc,
            lambda: _version_form_context(session, editable_model(session, principal, user, model_id), None, form),
        )
    return see_other(f"/model-versions/{version.id}/edit", done="version-created")


def _files_context(session: Session, version: ModelVersion, values: VersionForm | None = None) -> dict[str, Any]:
    live = [file for file in version.files if file.replaced_at is None]
    return {
        **_version_form_context(session, version.model, version, values or _version_values(version)),
        "files": live,
        "primary": files.primary_file(live),
        "uploads": [upload_out(session, upload) for upload in uploads.version_uploads(session, version.id)],
        "file_types": FILE_TYPES,
        "file_formats": FILE_FORMATS,
        "file_sizes": FILE_SIZES,
        "file_fp": FILE_FP,
    }


@router.get("/model-versions/{version_id:int}/edit", response_class=HTMLResponse)
def edit_version_page(
    request: Request, version_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    version = editable_version(session, principal, user, version_id)
    return wizard_page(request, "files", _files_context(session, version))


@router.post("/model-versions/{version_id:int}/edit", response_class=HTMLResponse)
def update_version(
    request: Request,
    version_id: Id,
    user: CatalogWriter,
    principal: PrincipalDep,
    session: SessionDep,
    form: Annotated[VersionForm, Form()],
) -> Response:
    version = editable_version(session, principal, user, version_id)
    try:
        service.update_version(session, user, version, validated(VersionUpdate, form.fields()))
    except AppError as exc:
        return wizard_failed(request, session, "files", exc, lambda: _files_context(session, version, form))
    return see_other(f"/model-versions/{version_id}/edit", done="version-saved")


@router.post("/model-versions/{version_id:int}/delete", response_class=HTMLResponse)
def delete_version(
    request: Request, version_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    policy.require_scope(principal, TokenScope.ModelsDelete)  # deleting, as through the API
    version = editable_version(session, principal, user, version_id)
    try:
        lifecycle.delete_version(session, version, user)
    except AppError as exc:
        return wizard_failed(request, session, "files", exc, lambda: _files_context(session, version))
    return see_other(f"/models/{version.model_id}/edit", done="version-deleted")


# --- files ----------------------------------------------------------------------------------------------------


@router.post("/model-versions/{version_id:int}/files", response_class=HTMLResponse)
def upload_file(
    request: Request,
    version_id: Id,
    user: CatalogWriter,
    principal: PrincipalDep,
    session: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
    type: Annotated[str, Form(max_length=32)] = "Model",
    format: Annotated[str, Form(max_length=20)] = "",
    size: Annotated[str, Form(max_length=10)] = "",
    fp: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Multipart form; its CSRF token travels in the action URL (multipart bodies are not buffered for it)."""
    version = editable_version(session, principal, user, version_id)
    try:
        if file is None or not file.filename:
            raise ValidationFailed("Choose a file to upload", field="file")
        metadata = {"format": format or None, "size": size or None, "fp": fp or None}
        files.add_file(
            session, user, version, filename=file.filename, stream=file.file, file_type=type, metadata=metadata
        )
    except AppError as exc:
        return wizard_failed(request, session, "files", exc, lambda: _files_context(session, version))
    return see_other(f"/model-versions/{version_id}/edit", done="file-uploaded")


@router.post("/model-files/{file_id:int}/convert", response_class=HTMLResponse)
def convert_file(
    request: Request, file_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    stored = session.get(ModelFile, file_id)
    if stored is None:
        raise NotFound(f"No model file with id {file_id}")
    version = editable_version(session, principal, user, stored.model_version_id)
    try:
        convert.request_conversion(session, user, stored)
    except AppError as exc:
        return wizard_failed(request, session, "files", exc, lambda: _files_context(session, version))
    return see_other(f"/model-versions/{version.id}/edit", done="conversion-requested")


@router.post("/model-files/{file_id:int}/delete", response_class=HTMLResponse)
def delete_file(
    request: Request, file_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    policy.require_scope(principal, TokenScope.ModelsDelete)  # deleting, as through the API
    stored = session.get(ModelFile, file_id)
    if stored is None:
        raise NotFound(f"No model file with id {file_id}")
    version_id = stored.model_version_id
    version = editable_version(session, principal, user, version_id)
    try:
        files.remove_file(session, user, stored)
    except AppError as exc:
        return wizard_failed(request, session, "files", exc, lambda: _files_context(session, version))
    return see_other(f"/model-versions/{version_id}/edit", done="file-deleted")
