"""Model files: adding one (streamed to storage, hashed on the way), removing one, and the primary-file rule."""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO, cast

from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.catalog.access import require_writer
from modelyard.catalog.enums import (
    FILE_FORMATS,
    FILE_FP,
    FILE_SIZES,
    FILE_TYPES,
    MODEL_FILE_TYPES,
    HashType,
    ModelStatus,
)
from modelyard.catalog.files.hashing import FileHasher
from modelyard.catalog.files.inspect import Inspection, inspect_file
from modelyard.catalog.files.scanning import request_scan
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.models import ModelFile, ModelFileHash, ModelVersion
from modelyard.core.db import on_commit
from modelyard.core.errors import BadRequest, Conflict, PayloadTooLarge, ValidationFailed
from modelyard.core.runtime import get_runtime
from modelyard.core.storage.base import MAX_SEGMENT_BYTES, validate_key

CHUNK = 1024 * 1024
DEFAULT_PREFERENCE: dict[str, str] = {"format": "SafeTensor", "size": "pruned", "fp": "fp16", "quantType": "Q4_K_M"}
_WEIGHTS = {"format": 100.0, "size": 10.0, "fp": 1.0, "quantType": 0.5}
_ALLOWED_METADATA = {"format": FILE_FORMATS, "size": FILE_SIZES, "fp": FILE_FP}
MAX_NAME_BYTES = MAX_SEGMENT_BYTES  # the name ends the storage key, whose segments stop there
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def primary_file(files: Sequence[ModelFile], preference: Mapping[str, str] | None = None) -> ModelFile | None:
    """Civitai's rule: every file scores 1000, model-weight types 1000 more, and each metadata key adds its weight
    when it matches the preference (format 100, size 10, fp 1, quantType 0.5) or subtracts it when not."""
    if len(files) == 1 and not preference:  # most versions: nothing to weigh
        return files[0] if files[0].replaced_at is None else None
    wanted = {**DEFAULT_PREFERENCE, **(preference or {})}
    best: ModelFile | None = None
    best_score = float("-inf")
    for file in files:
        if file.replaced_at is not None:
            continue
        score = 1000.0 + (1000.0 if file.type in MODEL_FILE_TYPES else 0.0)
        metadata = file.metadata_ or {}
        for key, weight in _WEIGHTS.items():
            score += weight if metadata.get(key) == wanted.get(key) else -weight
        if score > best_score:
            best, best_score = file, score
    return best


def clean_filename(name: str) -> str:
    """The name without any folder part, checked so that it can end a storage key: the storage's own rules must
    never be what refuses a name (its messages speak of keys and segments, not of the user's file)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base.strip("."):
        raise ValidationFailed("The file needs a name")
    if len(base.encode("utf-8")) > MAX_NAME_BYTES or _CONTROL_CHARS.search(base):
        raise ValidationFailed(f"File names are at most {MAX_NAME_BYTES} bytes, without control characters")
    if base.startswith("."):
        # Saved as a hidden file by whoever downloads it, and a hidden name in storage: refused with the reason.
        raise ValidationFailed(f"File names may not start with a dot: rename {base!r}, e.g. to {base.lstrip('.')!r}")
    return base


def clean_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if value in (None, ""):
            continue
        if key in _ALLOWED_METADATA:
            if value not in _ALLOWED_METADATA[key]:
                choices = ", ".join(_ALLOWED_METADATA[key])
                raise ValidationFailed(f"File {key} {value!r} is not one of {choices}")
            cleaned[key] = value
        elif key == "quantType":
            cleaned[key] = str(value)[:20]
        else:
            raise ValidationFailed(f"Unknown file metadata {key!r}: use format, size, fp or quantType")
    return cleaned


def prepare_file(
    actor: User, version: ModelVersion, *, filename: str, file_type: str, metadata: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """Check that `actor` may add a file of this type and name to `version`: its clean name and metadata."""
    require_writer(actor, version.model)
    policy.require_can_upload(actor)  # strikes may pause uploads
    if version.status == ModelStatus.Deleted:
        raise Conflict(f"Version {version.id} is Deleted")
    if file_type not in FILE_TYPES:
        raise ValidationFailed(f"File type {file_type!r} is not one of {', '.join(FILE_TYPES)}")
    name = clean_filename(filename)
    taken = any(other.name == name and other.replaced_at is None for other in version.files)
    if taken:
        raise Conflict(f"Version {version.id} already has a file named {name}: delete it first, or rename yours")
    return name, clean_metadata(metadata)


def storage_key_for(version: ModelVersion, name: str, *, unique: str | None = None) -> str:
    """Where a new file of `version` is stored: under a folder of its own (`unique`, a random one by default; a job
    that may run twice passes one of its own, so that a second run writes over the first instead of beside it)."""
    key = f"models/{version.model_id}/{version.id}/{unique or uuid.uuid4().hex}/{name}"
    try:
        return validate_key(key)
    except BadRequest:  # `clean_filename` keeps to the key rules; if they ever part, say so in the user's terms
        raise ValidationFailed(f"The file name {name!r} cannot be stored: rename the file") from None


def apply_inspection(name: str, found: Inspection, metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata as the file's content corrects it; a name that lies about the content is refused."""
    if name.lower().endswith((".safetensors", ".sft")) and found.format != "SafeTensor":
        raise ValidationFailed(f"{name} is not a safetensors file: its content is {found.format}")
    corrected = {**metadata, "format": found.format}  # the content decides, never the name or the form
    if found.fp and not str(corrected.get("fp", "")).startswith(found.fp):
        corrected["fp"] = found.fp  # "fp8_scaled" refines fp8 weights; "fp16" on fp32 weights is wrong
    if found.size:
        corrected.setdefault("size", found.size)
    return corrected


def record_file(
    session: Session,
    version: ModelVersion,
    *,
    name: str,
    key: str,
    size: int,
    file_type: str,
    metadata: dict[str, Any],
    found: Inspection,
    digests: Mapping[HashType, str],
) -> ModelFile:
    """The ModelFile row for an object already in storage, with its hashes; its scan is requested."""
    file = ModelFile(
        model_version_id=version.id,
        name=name,
        storage_key=key,
        size_kb=size / 1024,
        type=file_type,
        metadata_=metadata,
        header_data=found.details or None,
    )
    version.files.append(file)
    session.flush()
    session.add_all(ModelFileHash(file_id=file.id, type=kind, hash=value) for kind, value in digests.items())
    session.flush()
    session.refresh(file, ["hashes"])
    request_scan(session, file.id)
    effects.invalidate_model(session, version.model_id)
    return file


def add_file(
    session: Session,
    actor: User,
    version: ModelVersion,
    *,
    filename: str,
    stream: BinaryIO,
    file_type: str = "Model",
    metadata: Mapping[str, Any] | None = None,
) -> ModelFile:
    """Store a file sent in one request, with its six hashes computed while it is copied (see `uploads` for
    resumable uploads of any size)."""
    name, cleaned = prepare_file(actor, version, filename=filename, file_type=file_type, metadata=metadata)
    runtime = get_runtime()
    limit = runtime.settings.direct_upload_max_bytes
    hasher = FileHasher()
    with tempfile.SpooledTemporaryFile(max_size=8 * CHUNK) as spool:
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
            if hasher.size > limit:
                raise PayloadTooLarge(f"Files uploaded in one request are at most {limit} bytes")
            spool.write(chunk)
        if hasher.size == 0:
            raise ValidationFailed("The file is empty")
        found = inspect_file(cast(BinaryIO, spool), hasher.size)
        cleaned = apply_inspection(name, found, cleaned)
        spool.seek(0)
        key = storage_key_for(version, name)
        runtime.storage.save(key, cast(BinaryIO, spool), content_type="application/octet-stream")
    return record_file(
        session,
        version,
        name=name,
        key=key,
        size=hasher.size,
        file_type=file_type,
        metadata=cleaned,
        found=found,
        digests=hasher.digests(),
    )


def remove_file(session: Session, actor: User, file: ModelFile) -> None:
    """Delete a file; a published version keeps at least one. The stored object goes once the delete commits."""
    version = file.version
    require_writer(actor, version.model)
    live = [other for other in version.files if other.replaced_at is None and other.id != file.id]
    if version.status == ModelStatus.Published and not live:
        raise Conflict("A published version keeps at least one file: upload its replacement first")
    key = file.storage_key
    session.delete(file)
    session.flush()
    storage = get_runtime().storage
    on_commit(session, lambda: storage.delete(key))
    effects.invalidate_model(session, version.model_id)
