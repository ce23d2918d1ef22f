"""JSON API of resumable uploads (see `catalog.uploads`): what the web uploader and `modelyard upload` speak.

POST   /api/model-versions/{id}/uploads   {filename, size, type?, sha256?, part_size?, metadata?}  -> 201
GET    /api/model-versions/{id}/uploads   the version's uploads under way (a reloaded page picks them up)
GET    /api/uploads/{id}                  status, and the parts storage holds: resume from here
POST   /api/uploads/{id}/part-urls        {parts: [1, 2, ...]} -> signed PUT URLs (the answer's ETag header)
POST   /api/uploads/{id}/complete         {sha256?} -> 202, Verifying; poll until Complete or Failed
DELETE /api/uploads/{id}                  abort: the parts are dropped
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.auth import PrincipalDep, requires
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog import access, queries
from modelyard.catalog.enums import UploadStatus
from modelyard.catalog.files import service as files
from modelyard.catalog.files import uploads
from modelyard.catalog.models import FileUpload, ModelFile
from modelyard.catalog.schemas import FileOut
from modelyard.core.forwarded import public_url
from modelyard.core.http import SessionDep
from modelyard.core.params import Id
from modelyard.core.storage.local import FILES_PATH

router = APIRouter(tags=["uploads"])
Writer = Annotated[User, Depends(requires(TokenScope.ModelsWrite))]


class FileMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    format: str | None = Field(default=None, max_length=20)
    size: str | None = Field(default=None, max_length=10)
    fp: str | None = Field(default=None, max_length=20)
    quant_type: str | None = Field(default=None, alias="quantType", max_length=20)


class UploadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=1024)
    size: int = Field(description="The file's size in bytes")
    type: str = Field(default="Model", max_length=32)
    sha256: str | None = Field(default=None, max_length=64, description="Checked once the parts are joined")
    part_size: int | None = Field(default=None, description="Bytes per part; the server picks one when absent")
    metadata: FileMetadata = Field(default_factory=FileMetadata)


class PartOut(BaseModel):
    part_number: int
    size: int


class UploadOut(BaseModel):
    id: int
    version_id: int
    filename: str
    type: str
    size: int
    part_size: int
    part_count: int
    status: UploadStatus
    error: str | None
    sha256: str | None
    parts: list[PartOut] = Field(description="Parts storage holds (while Uploading): send the others")
    bytes_received: int
    file: FileOut | None
    created_at: datetime
    updated_at: datetime


class PartUrlsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parts: list[int] = Field(min_length=1, max_length=uploads.URLS_PER_REQUEST)


class PartUrl(BaseModel):
    part_number: int
    url: str
    size: int = Field(description="Exactly this many bytes go in this part")


class PartUrlsOut(BaseModel):
    urls: list[PartUrl]


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str | None = Field(default=None, max_length=64)


def upload_out(session: Session, upload: FileUpload) -> UploadOut:
    parts = uploads.received_parts(upload)
    received = sum(size for _, size in parts) if upload.status == UploadStatus.Uploading else 0
    if upload.status in (UploadStatus.Verifying, UploadStatus.Complete):
        received = upload.size
    file = session.get(ModelFile, upload.file_id) if upload.file_id is not None else None
    file_out = None
    if file is not None:
        file_out = queries.file_out(file, primary=files.primary_file(file.version.files) is file)
    return UploadOut(
        id=upload.id,
        version_id=upload.model_version_id,
        filename=upload.filename,
        type=upload.file_type,
        size=upload.size,
        part_size=upload.part_size,
        part_count=upload.part_count,
        status=upload.status,
        error=upload.error,
        sha256=upload.sha256,
        parts=[PartOut(part_number=n, size=size) for n, size in parts],
        bytes_received=received,
        file=file_out,
        created_at=upload.created_at,
        updated_at=upload.updated_at,
    )


def _writable_upload(session: Session, principal: PrincipalDep, upload_id: int) -> FileUpload:
    return uploads.get_upload(session, policy.require_user(principal), upload_id)


@router.post("/api/model-versions/{version_id}/uploads", status_code=status.HTTP_201_CREATED)
def start_upload(
    version_id: Id, body: UploadCreate, _: Writer, principal: PrincipalDep, session: SessionDep
) -> UploadOut:
    """Start a resumable upload of one file to a version you may edit. Name, type, metadata and size are checked
    here, before any byte is sent; a second upload of the same name while one is under way answers 409."""
    user = policy.require_user(principal)
    version = access.version_for_write(session, principal, version_id)
    upload = uploads.start_upload(
        session,
        user,
        version,
        filename=body.filename,
        size=body.size,
        file_type=body.type,
        metadata=body.metadata.model_dump(by_alias=True),
        sha256=body.sha256,
        part_size=body.part_size,
    )
    return upload_out(session, upload)


@router.get("/api/model-versions/{version_id}/uploads")
def list_uploads(version_id: Id, _: Writer, principal: PrincipalDep, session: SessionDep) -> list[UploadOut]:
    """The version's uploads under way, and those that failed in the last week, with their progress."""
    access.version_for_write(session, principal, version_id)
    return [upload_out(session, upload) for upload in uploads.version_uploads(session, version_id)]


@router.get("/api/uploads/{upload_id}")
def get_upload(upload_id: Id, _: Writer, principal: PrincipalDep, session: SessionDep) -> UploadOut:
    """Where an upload stands: the parts received (resume by sending the others), or the verification's result."""
    return upload_out(session, _writable_upload(session, principal, upload_id))


@router.post("/api/uploads/{upload_id}/part-urls")
def part_urls(
    upload_id: Id, body: PartUrlsRequest, request: Request, _: Writer, principal: PrincipalDep, session: SessionDep
) -> PartUrlsOut:
    """Signed URLs to PUT parts to (the raw bytes as the body; up to 100 at a time). The answer to each PUT
    carries the part's `ETag`. A part sent again replaces the earlier one."""
    upload = _writable_upload(session, principal, upload_id)
    urls = uploads.part_urls(upload, body.parts)
    base = public_url(request)  # what the storage's own URLs are made on (`core.forwarded`)

    def for_client(url: str) -> str:
        # The app's own file URLs go out as paths: they then work on whatever address the client reached us at
        # (a LAN address, a proxy), whatever the configured public URL. A bucket's URLs stay absolute.
        return url[len(base) :] if url.startswith(f"{base}{FILES_PATH}/") else url

    return PartUrlsOut(
        urls=[PartUrl(part_number=n, url=for_client(url), size=upload.expected_part_size(n)) for n, url in urls]
    )


@router.post("/api/uploads/{upload_id}/complete", status_code=status.HTTP_202_ACCEPTED)
def complete_upload(
    upload_id: Id, _: Writer, principal: PrincipalDep, session: SessionDep, body: CompleteRequest | None = None
) -> UploadOut:
    """Every part is in: join, hash and check them in the background. 409 names the parts still missing or
    of the wrong size. Poll `GET /api/uploads/{id}` until Complete (with the file) or Failed (with the reason)."""
    upload = _writable_upload(session, principal, upload_id)
    uploads.complete_upload(session, upload, sha256=body.sha256 if body else None)
    return upload_out(session, upload)


@router.delete("/api/uploads/{upload_id}", status_code=status.HTTP_204_NO_CONTENT)
def abort_upload(upload_id: Id, _: Writer, principal: PrincipalDep, session: SessionDep) -> Response:
    """Abort an upload under way (or clear a failed one); its parts are dropped."""
    upload = _writable_upload(session, principal, upload_id)
    uploads.abort_upload(session, upload)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
