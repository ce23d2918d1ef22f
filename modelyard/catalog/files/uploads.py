"""Resumable uploads of model files of any size, with constant memory on the server.

An upload is a storage multipart upload under the hood: the client asks for signed part URLs and PUTs each part
to one of them (the app's own `/files` URLs with local storage, the bucket itself with S3), in any order, again
if a part failed. What storage holds is the truth: the client resumes from `GET /api/uploads/{id}` after a
dropped connection or a server restart. `complete` checks every part is there at its size and hands over to a
job that joins the parts, computes the six hashes in one pass (reading and hashing overlapped), checks the
client's SHA-256, inspects the content and records the file, or keeps nothing and says why.

    Uploading --complete--> Verifying --job--> Complete (a ModelFile)  |  Failed (nothing kept)
    Uploading --abort / expiry--> Aborted
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.catalog.enums import HashType, UploadStatus
from modelyard.catalog.files import service as files
from modelyard.catalog.files.hashing import hash_stream
from modelyard.catalog.files.inspect import Inspection, inspect_file
from modelyard.catalog.models import FileUpload, ModelFile, ModelVersion
from modelyard.core.db import on_commit, utcnow
from modelyard.core.errors import AppError, BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from modelyard.core.jobs import enqueue
from modelyard.core.jobs.models import Job, JobStatus
from modelyard.core.runtime import get_runtime
from modelyard.core.storage.base import MAX_PART_NUMBER, MIN_PART_SIZE, RangeReader

log = logging.getLogger("modelyard.catalog")

MIB = 1024 * 1024
DEFAULT_PART_SIZE = 32 * MIB
MAX_PART_SIZE = 5 * 1024 * MIB  # S3's limit for one part
MAX_UPLOAD_SIZE = MAX_PART_NUMBER * MAX_PART_SIZE
URLS_PER_REQUEST = 100
ABANDONED_AFTER = timedelta(days=7)
VERIFY_STALLED_AFTER = timedelta(hours=2)
HASH_CHUNK = 8 * MIB
_SHA256 = re.compile(r"[0-9A-Fa-f]{64}")
ACTIVE = (UploadStatus.Uploading, UploadStatus.Verifying)
# What the verification job concludes about the file itself (refused, gone, changed): the upload fails and
# keeps nothing. Anything else (storage or database unreachable) is retried.
_VERDICTS = (BadRequest, ValidationFailed, Conflict, Forbidden, NotFound)


def part_size_for(size: int, requested: int | None) -> int:
    """The part size: the client's if it fits S3's rules, else 32 MiB, grown so no upload needs over 10,000."""
    smallest = -(-size // MAX_PART_NUMBER)
    if requested is not None:
        if not MIN_PART_SIZE <= requested <= MAX_PART_SIZE:
            raise ValidationFailed(f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
        if requested < smallest:
            raise ValidationFailed(f"part_size {requested} needs over {MAX_PART_NUMBER} parts: use {smallest} or more")
        return requested
    return max(DEFAULT_PART_SIZE, -(-smallest // MIB) * MIB)


def start_upload(
    session: Session,
    actor: User,
    version: ModelVersion,
    *,
    filename: str,
    size: int,
    file_type: str = "Model",
    metadata: dict[str, Any] | None = None,
    sha256: str | None = None,
    part_size: int | None = None,
) -> FileUpload:
    """Open an upload of `size` bytes to `version`: checked now, so nobody sends gigabytes to be refused."""
    name, cleaned = files.prepare_file(actor, version, filename=filename, file_type=file_type, metadata=metadata)
    if size <= 0:
        raise ValidationFailed("The file is empty")
    if size > MAX_UPLOAD_SIZE:
        raise ValidationFailed(f"Files are at most {MAX_UPLOAD_SIZE} bytes")
    chosen = part_size_for(size, part_size)
    busy = session.scalar(
        select(FileUpload.id).where(FileUpload.model_version_id == version.id, FileUpload.active_name == name)
    )
    if busy is not None:
        raise Conflict(f"Upload {busy} of {name} to this version is under way: resume it, or abort it first")
    key = files.storage_key_for(version, name)
    upload = FileUpload(
        model_version_id=version.id,
        user_id=actor.id,
        filename=name,
        active_name=name,
        file_type=file_type,
        metadata_=cleaned,
        size=size,
        part_size=chosen,
        sha256=_clean_sha256(sha256),
        storage_key=key,
        multipart_id="",
    )
    try:
        with session.begin_nested():
            session.add(upload)
            session.flush()
    except IntegrityError:
        raise Conflict(f"Another upload of {name} to this version has just started") from None
    storage = get_runtime().storage
    upload.multipart_id = storage.create_multipart(key)
    session.flush()
    return upload


def get_upload(session: Session, actor: User, upload_id: int) -> FileUpload:
    """The upload, for its uploader or a moderator; anyone else gets the 404 of one that does not exist."""
    upload = session.get(FileUpload, upload_id)
    if upload is None or (upload.user_id != actor.id and not policy.is_moderator(actor)):
        raise NotFound(f"No upload with id {upload_id}")
    return upload


def version_uploads(session: Session, version_id: int) -> Sequence[FileUpload]:
    """A version's uploads still under way or failed in the last week (what an upload page shows)."""
    return session.scalars(
        select(FileUpload)
        .where(
            FileUpload.model_version_id == version_id,
            FileUpload.status.in_([*ACTIVE, UploadStatus.Failed]),
            FileUpload.updated_at > utcnow() - ABANDONED_AFTER,
        )
        .order_by(FileUpload.id)
    ).all()


def received_parts(upload: FileUpload) -> list[tuple[int, int]]:
    """(part number, size) of the parts storage holds, while they are still parts."""
    if upload.status != UploadStatus.Uploading:
        return []
    storage = get_runtime().storage
    return [(number, size) for number, _etag, size in storage.list_parts(upload.storage_key, upload.multipart_id)]


def part_urls(upload: FileUpload, numbers: Sequence[int]) -> list[tuple[int, str]]:
    """Signed PUT URLs for the given parts; each answers with the part's ETag."""
    _require_uploading(upload)
    if not numbers or len(numbers) > URLS_PER_REQUEST:
        raise ValidationFailed(f"Ask for 1 to {URLS_PER_REQUEST} parts at a time")
    for number in numbers:
        if not 1 <= number <= upload.part_count:
            raise ValidationFailed(f"Part {number} is outside 1..{upload.part_count}")
    storage = get_runtime().storage
    upload.updated_at = utcnow()  # a sign of life: abandoned uploads are the ones nobody asks about
    # Each URL takes exactly its part's size, so no part can hold more than the upload announced.
    return [
        (n, storage.part_upload_url(upload.storage_key, upload.multipart_id, n, size=upload.expected_part_size(n)))
        for n in sorted(set(numbers))
    ]


def complete_upload(session: Session, upload: FileUpload, *, sha256: str | None = None) -> FileUpload:
    """Check that every part arrived at its size, then verify in the background. Asking again while it is
    verifying or once it is done answers the same upload (a client whose answer was lost retries safely)."""
    if upload.status in (UploadStatus.Verifying, UploadStatus.Complete):
        return upload
    _require_uploading(upload)
    if sha256 is not None:
        claimed = _clean_sha256(sha256)
        if upload.sha256 is not None and upload.sha256 != claimed:
            raise ValidationFailed("This SHA-256 differs from the one given when the upload started")
        upload.sha256 = claimed
    received = dict(received_parts(upload))
    missing = [n for n in range(1, upload.part_count + 1) if n not in received]
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else "")
        raise Conflict(f"Parts not received yet: {shown} (of {upload.part_count})", missing=missing[:1000])
    for number, size in sorted(received.items()):
        expected = upload.expected_part_size(number) if number <= upload.part_count else 0
        if size != expected:
            raise Conflict(f"Part {number} has {size} bytes, {expected} were expected: send it again")
    upload.status = UploadStatus.Verifying
    session.flush()
    _send_finish(session, upload.id)
    return upload


def abort_upload(session: Session, upload: FileUpload) -> None:
    """Drop an upload and its parts. One that is verifying finishes first."""
    if upload.status == UploadStatus.Verifying:
        raise Conflict("This upload is being verified; delete the file once it is recorded")
    if upload.status == UploadStatus.Complete:
        raise Conflict("This upload is complete: delete its file instead")
    _close(upload, UploadStatus.Aborted, upload.error)
    _keep_nothing(session, upload)
    session.flush()


def finish_upload(session: Session, *, upload_id: int) -> None:
    """Join, hash, check and record an upload's file. Safe to run again after a crash at any point.

    The long part (joining, hashing and inspecting take seconds per GiB) runs with no transaction open: on SQLite
    the job's own session holds the database's one write lock from its first statement, and every log-in and
    every other writer would wait on it. So the upload is read apart, and the job's session only records the
    outcome, after checking again that the upload still waits for it."""
    upload = _read_verifying(upload_id)
    if upload is None:
        return
    try:
        content = _check_content(upload)
    except _VERDICTS as exc:
        _settle_refused(session, upload_id, cast(AppError, exc))
        return
    current = session.get(FileUpload, upload_id)
    if current is None or current.status != UploadStatus.Verifying:
        return  # settled meanwhile, by another delivery of this job or by `tidy_uploads`
    try:
        with session.begin_nested():  # a refusal here takes back whatever the recording had written
            file = _record(session, current, content)
    except _VERDICTS as exc:
        _refuse(session, current, cast(AppError, exc))
        return
    _close(current, UploadStatus.Complete, None)
    current.file_id = file.id


def tidy_uploads(session: Session) -> None:
    """Abort uploads nobody touched for a week (their parts take space). A verification whose job used up its
    retries (storage down for hours, say) fails its upload with the job's error, so the client can start over;
    one whose job was lost is sent again. A job still queued or running is left to finish."""
    now = utcnow()
    abandoned = session.scalars(
        select(FileUpload)
        .where(FileUpload.status == UploadStatus.Uploading, FileUpload.updated_at < now - ABANDONED_AFTER)
        .limit(200)
    ).all()
    for upload in abandoned:
        upload.error = "Abandoned: no part was asked for in a week"
        abort_upload(session, upload)
    stalled = session.scalars(
        select(FileUpload)
        .where(FileUpload.status == UploadStatus.Verifying, FileUpload.updated_at < now - VERIFY_STALLED_AFTER)
        .limit(200)
    ).all()
    for upload in stalled:
        job = session.scalar(select(Job).where(Job.dedupe_key == _finish_key(upload.id)))
        if job is None:
            _send_finish(session, upload.id)
        elif job.status == JobStatus.dead:
            reason = (job.last_error or "unknown error").strip().splitlines()[-1][:300]
            _close(upload, UploadStatus.Failed, f"The file could not be verified ({reason}): upload it again")
            _keep_nothing(session, upload)


def _send_finish(session: Session, upload_id: int) -> None:
    enqueue(session, "catalog.finish_upload", upload_id=upload_id, dedupe_key=_finish_key(upload_id))


def _finish_key(upload_id: int) -> str:
    return f"catalog.finish_upload:{upload_id}"


@dataclass(frozen=True)
class _Content:
    digests: dict[HashType, str]
    found: Inspection


def _read_verifying(upload_id: int) -> FileUpload | None:
    """The upload, detached, if it waits for verification: read in a session of its own (see `finish_upload`)."""
    with get_runtime().db.session() as reader:
        upload = reader.get(FileUpload, upload_id)
        if upload is None or upload.status != UploadStatus.Verifying:
            return None
        reader.expunge(upload)
        return upload


def _check_content(upload: FileUpload) -> _Content:
    """Join the parts (unless a crash came after the join), hash and inspect the file: no database involved."""
    storage = get_runtime().storage
    _join(upload)
    with storage.open(upload.storage_key) as reader:
        digests, size = hash_stream(reader)
    if size != upload.size:
        raise ValidationFailed(f"The joined file has {size} bytes, not the {upload.size} announced")
    sha256 = digests[HashType.SHA256]
    if upload.sha256 is not None and sha256 != upload.sha256:
        raise ValidationFailed(f"SHA-256 mismatch: the file sent hashes to {sha256}, not {upload.sha256}")
    with io.BufferedReader(RangeReader(storage, upload.storage_key, upload.size), HASH_CHUNK) as seekable:
        found = inspect_file(cast(BinaryIO, seekable), upload.size)
    return _Content(digests=dict(digests), found=found)


def _join(upload: FileUpload) -> None:
    storage = get_runtime().storage

    def joined() -> bool:
        stored = storage.stat(upload.storage_key)
        return stored is not None and stored.size == upload.size

    if joined():  # a crash came after the join
        return
    try:
        parts = storage.list_parts(upload.storage_key, upload.multipart_id)
        storage.complete_multipart(upload.storage_key, upload.multipart_id, [(n, etag) for n, etag, _ in parts])
    except (NotFound, BadRequest):
        if not joined():  # else another delivery of this job joined the parts under our feet
            raise


def _record(session: Session, upload: FileUpload, content: _Content) -> ModelFile:
    """The ModelFile, once what may have changed during the verification is checked again: the version and the
    uploader still exist, the uploader may still edit it, it is not deleted, and no file took the name."""
    version = session.get(ModelVersion, upload.model_version_id)
    actor = session.get(User, upload.user_id)
    if version is None or actor is None:
        raise NotFound("The version or its uploader no longer exists")
    upload.active_name = None  # its own name must not count as taken below
    session.flush()
    name, _ = files.prepare_file(actor, version, filename=upload.filename, file_type=upload.file_type, metadata=None)
    metadata = files.apply_inspection(name, content.found, dict(upload.metadata_ or {}))
    return files.record_file(
        session,
        version,
        name=name,
        key=upload.storage_key,
        size=upload.size,
        file_type=upload.file_type,
        metadata=metadata,
        found=content.found,
        digests=content.digests,
    )


def _settle_refused(session: Session, upload_id: int, verdict: AppError) -> None:
    """Fail the upload for `verdict`, if it is still verifying: a finished one keeps its file and object."""
    upload = session.get(FileUpload, upload_id)
    if upload is not None and upload.status == UploadStatus.Verifying:
        _refuse(session, upload, verdict)


def _refuse(session: Session, upload: FileUpload, verdict: AppError) -> None:
    log.info("upload refused", extra={"upload_id": upload.id, "reason": verdict.detail})
    _close(upload, UploadStatus.Failed, verdict.detail)
    _keep_nothing(session, upload)


def _keep_nothing(session: Session, upload: FileUpload) -> None:
    """Once the session commits, drop the upload's object and parts, whichever exist."""
    storage, key, multipart_id = get_runtime().storage, upload.storage_key, upload.multipart_id

    def drop() -> None:
        storage.delete(key)
        storage.abort_multipart(key, multipart_id)

    on_commit(session, drop)


def _require_uploading(upload: FileUpload) -> None:
    if upload.status != UploadStatus.Uploading:
        raise Conflict(f"This upload is {upload.status}: it takes no more parts")


def _close(upload: FileUpload, status: UploadStatus, error: str | None) -> None:
    upload.status = status
    upload.error = error
    upload.active_name = None


def _clean_sha256(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _SHA256.fullmatch(value.strip()):
        raise ValidationFailed("sha256 must be 64 hexadecimal characters")
    return value.strip().upper()
