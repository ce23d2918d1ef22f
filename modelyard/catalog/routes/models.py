"""JSON API of the catalog: models and versions, their files, and the publishing lifecycle.

Everything a page does is here too. Reads apply the visibility rule (what you may not see answers 404, exactly
like what does not exist); writes need the owner or a moderator, and through an API key the ModelsWrite scope
(ModelsDelete to delete).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, status
from pydantic import AliasPath, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.auth import AdminUser, ModeratorUser, PrincipalDep, requires
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog import access as access_rule
from modelyard.catalog import basemodels, queries, service
from modelyard.catalog.access import ModelDelete, ModelWrite, VersionDelete, VersionWrite
from modelyard.catalog.enums import FileVisibility, ModelStatus, ScanResult, UnpublishKind
from modelyard.catalog.files import convert, scan_review
from modelyard.catalog.files import service as files
from modelyard.catalog.files.scan_review import ScanDecision
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import ModelFile, ModelVersion
from modelyard.catalog.routes.uploads import router as upload_router
from modelyard.catalog.schemas import (
    FileOut,
    ModelCreate,
    ModelOut,
    ModelSummary,
    ModelUpdate,
    PublishRequest,
    TransitionOut,
    UnpublishRequest,
    VersionCreate,
    VersionOut,
    VersionPublishRequest,
    VersionUpdate,
)
from modelyard.core.errors import NotFound
from modelyard.core.http import SessionDep
from modelyard.core.params import Id

router = APIRouter(tags=["catalog"])
Writer = Annotated[User, Depends(requires(TokenScope.ModelsWrite))]
Deleter = Annotated[User, Depends(requires(TokenScope.ModelsDelete))]


def catalog_viewer(principal: PrincipalDep) -> User | None:
    """Who reads: a key without ModelsRead reads as anyone would (it does not unlock the owner's drafts)."""
    return principal.user if principal.allows(TokenScope.ModelsRead) else None


Viewer = Annotated[User | None, Depends(catalog_viewer)]


def _model_out(session: Session, viewer: User | None, model_id: int) -> ModelOut:
    session.flush()
    session.expire_all()
    return queries.model_out(session, viewer, queries.load_model(session, viewer, model_id))


def _version_out(session: Session, version: ModelVersion) -> VersionOut:
    session.flush()
    session.refresh(version)
    return queries.version_out(version)


# --- models ----------------------------------------------------------------------------------------------------


@router.post("/api/models", status_code=status.HTTP_201_CREATED, response_model=ModelOut)
def create_model(body: ModelCreate, user: Writer, session: SessionDep) -> ModelOut:
    """Create a model in Draft. Add a version and a file, then publish it (or schedule it)."""
    model = service.create_model(session, user, body)
    return _model_out(session, user, model.id)


@router.get("/api/models/{model_id}", response_model=ModelOut, responses={404: {"description": "No such model"}})
def get_model(model_id: Id, viewer: Viewer, session: SessionDep) -> ModelOut:
    """A model with the versions the caller may see, their files (primary marked) and hashes."""
    return queries.model_out(session, viewer, queries.load_model(session, viewer, model_id))


@router.patch("/api/models/{model_id}", response_model=ModelOut)
def update_model(model_id: Id, body: ModelUpdate, access: ModelWrite, session: SessionDep) -> ModelOut:
    """Change a model's details. Only the fields sent change; `tags` replaces the whole list."""
    user, model = access.user, access.model
    service.update_model(session, user, model, body)
    return _model_out(session, user, model_id)


@router.post("/api/models/{model_id}/publish", response_model=ModelOut, responses={409: {"description": "Not now"}})
def publish_model(model_id: Id, body: PublishRequest, access: ModelWrite, session: SessionDep) -> ModelOut:
    """Publish the model and its draft versions (or `version_ids`), or with `scheduled_for` schedule it. A
    republished model brings back the versions that went down with it; publishedAt keeps its first value."""
    user, model = access.user, access.model
    if body.scheduled_for is not None:
        lifecycle.schedule_model(session, model, user, at=body.scheduled_for, version_ids=body.version_ids)
    else:
        lifecycle.publish_model(session, model, user, version_ids=body.version_ids)
    return _model_out(session, user, model_id)


@router.post("/api/models/{model_id}/unpublish", response_model=ModelOut)
def unpublish_model(
    model_id: Id, body: UnpublishRequest, access: ModelWrite, principal: PrincipalDep, session: SessionDep
) -> ModelOut:
    """Unpublish the model and all its versions. Owners unpublish `voluntary`; moderators also for a `violation`
    or a `legal` request (DMCA), with a reason and an optional message to the owner (who is e-mailed)."""
    user, model = access.user, access.model
    if body.kind != UnpublishKind.voluntary:
        policy.require_moderator(principal)
    lifecycle.unpublish_model(session, model, user, kind=body.kind, reason=body.reason, message=body.custom_message)
    return _model_out(session, user, model_id)


@router.post("/api/models/{model_id}/cancel-schedule", response_model=ModelOut)
def cancel_model_schedule(model_id: Id, access: ModelWrite, session: SessionDep) -> ModelOut:
    """Scheduled → Draft."""
    user = access.user
    lifecycle.cancel_schedule(session, access.model, user)
    return _model_out(session, user, model_id)


@router.delete("/api/models/{model_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_model(model_id: Id, access: ModelDelete, session: SessionDep) -> Response:
    """Soft-delete a model: hidden from everyone but moderators; its files are purged after the retention period."""
    lifecycle.delete_model(session, access.model, access.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/models/{model_id}/restore", response_model=ModelOut)
def restore_model(model_id: Id, principal: PrincipalDep, session: SessionDep) -> ModelOut:
    """Moderators: bring a deleted model back as Unpublished (before its files are purged)."""
    user = policy.require_moderator(principal)
    model = visibility.get_model(session, user, model_id)
    lifecycle.restore_model(session, model, user)
    return _model_out(session, user, model_id)


@router.get("/api/models/{model_id}/transitions", response_model=list[TransitionOut])
def model_transitions(model_id: Id, principal: PrincipalDep, session: SessionDep) -> list[TransitionOut]:
    """The model's status history (its versions' too): for its owner and moderators."""
    user = policy.require_user(principal)
    model = visibility.get_model(session, user, model_id)
    if not access_rule.may_write(user, model):
        raise NotFound(f"No model with id {model_id}")
    return queries.transitions(session, model_id=model_id, limit=500)


# --- versions --------------------------------------------------------------------------------------------------


@router.post("/api/models/{model_id}/versions", status_code=status.HTTP_201_CREATED, response_model=VersionOut)
def create_version(model_id: Id, body: VersionCreate, access: ModelWrite, session: SessionDep) -> VersionOut:
    """Add a Draft version, shown first (newest)."""
    version = service.create_version(session, access.user, access.model, body)
    return _version_out(session, version)


class VersionOrder(BaseModel):
    version_ids: list[Id] = Field(min_length=1, max_length=500)


@router.put("/api/models/{model_id}/versions/order", response_model=ModelOut)
def reorder_versions(model_id: Id, body: VersionOrder, access: ModelWrite, session: SessionDep) -> ModelOut:
    """Set the order versions are shown in (every version id, first shown first)."""
    service.reorder_versions(session, access.user, access.model, body.version_ids)
    return _model_out(session, access.user, model_id)


@router.get("/api/model-versions/{version_id}", response_model=VersionOut)
def get_version(version_id: Id, viewer: Viewer, session: SessionDep) -> VersionOut:
    return queries.version_out(visibility.get_version(session, viewer, version_id))


@router.patch("/api/model-versions/{version_id}", response_model=VersionOut)
def update_version(version_id: Id, body: VersionUpdate, access: VersionWrite, session: SessionDep) -> VersionOut:
    """Change a version's details. The keys the server keeps in `meta` (unpublishing details, the early-access
    purchase mark) stay as they are whatever `meta` says."""
    version = access.version
    service.update_version(session, access.user, version, body)
    return _version_out(session, version)


@router.post("/api/model-versions/{version_id}/publish", response_model=VersionOut)
def publish_version(
    version_id: Id, body: VersionPublishRequest, access: VersionWrite, session: SessionDep
) -> VersionOut:
    """Publish a version of a published model, or with `scheduled_for` schedule it."""
    user, version = access.user, access.version
    if body.scheduled_for is not None:
        lifecycle.schedule_version(session, version, user, at=body.scheduled_for)
    else:
        lifecycle.publish_version(session, version, user)
    return _version_out(session, version)


@router.post("/api/model-versions/{version_id}/unpublish", response_model=VersionOut)
def unpublish_version(
    version_id: Id, body: UnpublishRequest, access: VersionWrite, principal: PrincipalDep, session: SessionDep
) -> VersionOut:
    """Unpublish one version; the model goes down too when it was its last published version."""
    user, version = access.user, access.version
    if body.kind != UnpublishKind.voluntary:
        policy.require_moderator(principal)
    lifecycle.unpublish_version(session, version, user, kind=body.kind, reason=body.reason, message=body.custom_message)
    return _version_out(session, version)


@router.post("/api/model-versions/{version_id}/cancel-schedule", response_model=VersionOut)
def cancel_version_schedule(version_id: Id, access: VersionWrite, session: SessionDep) -> VersionOut:
    lifecycle.cancel_schedule(session, access.version, access.user)
    return _version_out(session, access.version)


@router.delete("/api/model-versions/{version_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_version(version_id: Id, access: VersionDelete, session: SessionDep) -> Response:
    lifecycle.delete_version(session, access.version, access.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- files -----------------------------------------------------------------------------------------------------


@router.post("/api/model-versions/{version_id}/files", status_code=status.HTTP_201_CREATED, response_model=FileOut)
def upload_file(
    version_id: Id,
    file: Annotated[UploadFile, File(description="The file's bytes")],
    access: VersionWrite,
    session: SessionDep,
    type: Annotated[str, Form(max_length=32)] = "Model",
    format: Annotated[str | None, Form(max_length=20)] = None,
    size: Annotated[str | None, Form(max_length=10)] = None,
    fp: Annotated[str | None, Form(max_length=20)] = None,
    quant_type: Annotated[str | None, Form(alias="quantType", max_length=20)] = None,
) -> FileOut:
    """Upload a file to a version in one request (multipart form); its six hashes are computed on the way."""
    user, version = access.user, access.version
    stored = files.add_file(
        session,
        user,
        version,
        filename=file.filename or "",
        stream=file.file,
        file_type=type,
        metadata={"format": format, "size": size, "fp": fp, "quantType": quant_type},
    )
    session.refresh(version)
    primary = files.primary_file(version.files)
    return queries.file_out(stored, primary=primary is stored)


@router.post("/api/model-files/{file_id}/convert", status_code=status.HTTP_202_ACCEPTED, response_model=FileOut)
def convert_file(file_id: Id, user: Writer, principal: PrincipalDep, session: SessionDep) -> FileOut:
    """Convert a pickle checkpoint the scanner passed to safetensors, in the background. The new file joins the
    version (and, as safetensors, becomes its primary file); `conversion` on this file says how it went."""
    stored = session.get(ModelFile, file_id)
    if stored is None:
        raise NotFound(f"No model file with id {file_id}")
    version = access_rule.version_for_write(session, principal, stored.model_version_id)
    convert.request_conversion(session, user, stored)
    return queries.file_out(stored, primary=files.primary_file(version.files) is stored)


@router.delete("/api/model-files/{file_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_file(file_id: Id, user: Deleter, principal: PrincipalDep, session: SessionDep) -> Response:
    stored = session.get(ModelFile, file_id)
    if stored is None:
        raise NotFound(f"No model file with id {file_id}")
    access_rule.version_for_write(session, principal, stored.model_version_id)
    files.remove_file(session, user, stored)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the owner's dashboard, moderation, base models ------------------------------------------------------------


class MyModels(BaseModel):
    overview: dict[str, int]
    items: list[ModelSummary]
    has_next: bool = False  # another page follows


@router.get("/api/me/models", response_model=MyModels)
def my_models(
    user: Annotated[User, Depends(requires(TokenScope.ModelsRead))],
    session: SessionDep,
    status_filter: Annotated[ModelStatus | None, Query(alias="status")] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> MyModels:
    """Your models, newest change first (50 a page), and how many you have in each status."""
    found = queries.owner_models_page(session, user.id, status=status_filter, page=page)
    return MyModels(overview=queries.content_overview(session, user.id), items=found.items, has_next=found.has_next)


@router.get("/api/moderation/transitions", response_model=list[TransitionOut])
def all_transitions(
    _: ModeratorUser,
    session: SessionDep,
    model_id: Id | None = None,
    before: Annotated[Id | None, Query(description="Only entries older than this id (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TransitionOut]:
    """Moderators: every status change, newest first."""
    return queries.transitions(session, model_id=model_id, before=before, limit=limit)


class HeldFileOut(BaseModel):
    """A file as the moderators' scan queue shows it: where it belongs and what its scans said. Read from the file
    row directly; where it belongs through its version."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    model_id: int = Field(validation_alias=AliasPath("version", "model_id"))
    model_name: str = Field(validation_alias=AliasPath("version", "model", "name"))
    version_id: int = Field(validation_alias=AliasPath("version", "id"))
    version_name: str = Field(validation_alias=AliasPath("version", "name"))
    size_kb: float
    visibility: FileVisibility
    pickle_scan_result: ScanResult
    pickle_scan_message: str | None
    virus_scan_result: ScanResult
    virus_scan_message: str | None
    scanned_at: datetime | None


class ScanDecisionIn(BaseModel):
    decision: ScanDecision
    reason: str = Field(min_length=1, max_length=scan_review.MAX_REASON)


@router.get("/api/moderation/held-files", response_model=list[HeldFileOut])
def held_files(
    _: ModeratorUser,
    session: SessionDep,
    after: Annotated[Id | None, Query(description="Only files with a larger id (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[HeldFileOut]:
    """Moderators: files held because a scan could not finish (an Error), oldest first, waiting for a decision."""
    held = scan_review.awaiting_decision(session, after=after, limit=limit)
    return [HeldFileOut.model_validate(file) for file in held]


@router.post("/api/moderation/held-files/{file_id}/decision", response_model=HeldFileOut)
def decide_held_file(file_id: Id, body: ScanDecisionIn, moderator: ModeratorUser, session: SessionDep) -> HeldFileOut:
    """Moderators: `clear` a held file (offered again), `block` it (Danger: its version goes down as a violation)
    or `rescan` it; the reason is kept with who decided and when."""
    return HeldFileOut.model_validate(scan_review.decide(session, moderator, file_id, body.decision, body.reason))


@router.get("/api/base-models", response_model=list[str])
def list_base_models(session: SessionDep) -> list[str]:
    return basemodels.names(session)


class BaseModelIn(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    ecosystem: str = Field(min_length=1, max_length=30)
    media: str = Field(default="image", pattern="^(image|video|audio|3d)$")
    hidden: bool = False


@router.post("/api/admin/base-models", status_code=status.HTTP_201_CREATED, response_model=list[str])
def add_base_model(body: BaseModelIn, _: AdminUser, session: SessionDep) -> list[str]:
    """Administrators: add a base model (a new architecture) without a release."""
    basemodels.add(session, name=body.name, ecosystem=body.ecosystem, media=body.media, hidden=body.hidden)
    return basemodels.names(session)


# Resumable uploads live in their own module; they are served with the rest of the catalog's API.
router.include_router(upload_router)
