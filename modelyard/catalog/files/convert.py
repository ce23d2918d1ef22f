"""Converting a clean pickle checkpoint to safetensors, which loads without running code.

Only a pickle that the scanner passed is converted, and it is loaded with `torch.load(weights_only=True)`, which
refuses anything but tensors and plain containers. The tensors found (a flat state dict, a `state_dict` inside a
training checkpoint, or a textual-inversion embedding's `string_to_param`) become a new safetensors file of the
same type in the same version; as safetensors it wins the primary-file rule, so it is what downloads offer first.
Needs PyTorch on the worker (the `gen` extra).
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib.util
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.access import require_writer
from modelyard.catalog.enums import HashType, ModelStatus, ScanResult
from modelyard.catalog.files import service as files
from modelyard.catalog.files.hashing import hash_stream
from modelyard.catalog.files.inspect import Inspection, inspect_file
from modelyard.catalog.files.safetensors import encode_header
from modelyard.catalog.models import ModelFile, ModelVersion
from modelyard.core.db import on_commit
from modelyard.core.errors import AppError, Conflict, ServiceUnavailable, ValidationFailed
from modelyard.core.jobs import enqueue
from modelyard.core.runtime import get_runtime

log = logging.getLogger("modelyard.catalog")
CHUNK = 8 * 1024 * 1024


def can_convert() -> bool:
    return importlib.util.find_spec("torch") is not None


def request_conversion(session: Session, actor: User, file: ModelFile) -> None:
    """Queue the conversion of a clean pickle; what cannot be converted is refused with the reason."""
    require_writer(actor, file.version.model)
    if (file.metadata_ or {}).get("format") != "PickleTensor":
        raise Conflict("Only pickle checkpoints (.ckpt, .pt, .bin) are converted; this file needs no conversion")
    if file.pickle_scan_result != ScanResult.Success or file.virus_scan_result == ScanResult.Danger:
        raise Conflict("Only a file the scanner passed is converted: wait for its scan, or replace the file")
    if file.conversion and file.conversion.get("status") in ("Pending", "Complete"):
        raise Conflict(f"This file's conversion is already {file.conversion['status']}")
    if not can_convert():
        raise ServiceUnavailable("Converting needs PyTorch on this server (the gen extra)")
    file.conversion = {"status": "Pending"}
    session.flush()
    enqueue(session, "catalog.convert_to_safetensors", file_id=file.id)


def convert_to_safetensors(session: Session, *, file_id: int) -> None:
    """Convert, then record the new file. The long part (copying the checkpoint, loading it with torch, writing,
    hashing and storing the result) runs with no transaction open: on SQLite the job's session holds the one
    write lock from its first statement. So the source is read apart, and the job's session only records the
    outcome, after checking again what may have changed meanwhile. The result is stored under a key of the
    source's own, so a second run of the job writes over the first run's object instead of leaving one behind."""
    try:
        work = _read_pending(file_id)
    except (ValidationFailed, Conflict) as exc:
        _settle_failed(session, file_id, exc, key=None)
        return
    if work is None:
        return
    try:
        made = _make_safetensors(work)
    except (ValidationFailed, Conflict) as exc:
        _settle_failed(session, file_id, exc, key=work.key)
        return
    source = session.get(ModelFile, file_id)
    if source is None or not _pending(source):
        _drop_unless_recorded(session, work.key)  # settled meanwhile, or the source was deleted
        return
    try:
        with session.begin_nested():  # a refusal here takes back whatever the recording had written
            converted = _record(session, source, work, made)
    except (ValidationFailed, Conflict) as exc:
        _settle_failed(session, file_id, exc, key=work.key)
        return
    source.conversion = {"status": "Complete", "fileId": converted.id}


@dataclass(frozen=True)
class _Work:
    """What the conversion needs to know about its source, read before the long part."""

    file_id: int
    source_key: str
    name: str  # the converted file's
    key: str  # where it is stored: the same on every run of the job
    file_type: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class _Made:
    digests: dict[HashType, str]
    size: int
    found: Inspection


def _pending(file: ModelFile) -> bool:
    return (file.conversion or {}).get("status") == "Pending"


def _read_pending(file_id: int) -> _Work | None:
    """The source, if its conversion is pending: read in a session of its own (see `convert_to_safetensors`)."""
    with get_runtime().db.session() as reader:
        source = reader.get(ModelFile, file_id)
        if source is None or not _pending(source):
            return None
        version = source.version
        name = f"{Path(source.name).stem}.safetensors"
        _check_still_wanted(version, name)
        return _Work(
            file_id=source.id,
            source_key=source.storage_key,
            name=name,
            key=files.storage_key_for(version, name, unique=f"converted-{source.id}"),
            file_type=source.type,
            metadata={k: v for k, v in (source.metadata_ or {}).items() if k != "format"},
        )


def _check_still_wanted(version: ModelVersion, name: str) -> None:
    if ModelStatus.Deleted in (version.status, version.model.status):
        raise Conflict(f"Version {version.id} was deleted")
    if any(other.name == name and other.replaced_at is None for other in version.files):
        raise Conflict(f"Version {version.id} already has a file named {name}")


def _make_safetensors(work: _Work) -> _Made:
    """Convert and store the result: storage and torch only, no database."""
    storage = get_runtime().storage
    with tempfile.TemporaryDirectory() as directory:
        pickled, target = Path(directory) / "source", Path(directory) / "converted.safetensors"
        with storage.open(work.source_key) as reader, pickled.open("wb") as writer:
            shutil.copyfileobj(reader, writer, CHUNK)
        _save_tensors(_load_tensors(pickled), target)
        with target.open("rb") as reader:
            digests, size = hash_stream(reader)
            found = inspect_file(reader, size)
            reader.seek(0)
            storage.save(work.key, reader, content_type="application/octet-stream")
    return _Made(digests=dict(digests), size=size, found=found)


def _record(session: Session, source: ModelFile, work: _Work, made: _Made) -> ModelFile:
    version = source.version
    _check_still_wanted(version, work.name)
    metadata = files.apply_inspection(work.name, made.found, dict(work.metadata))
    details = {**made.found.details, "convertedFrom": source.id}
    return files.record_file(
        session,
        version,
        name=work.name,
        key=work.key,
        size=made.size,
        file_type=work.file_type,
        metadata=metadata,
        found=dataclasses.replace(made.found, details=details),
        digests=made.digests,
    )


def _settle_failed(session: Session, file_id: int, exc: AppError, *, key: str | None) -> None:
    """Mark the conversion Failed with the reason, if it is still pending; keep no converted object."""
    source = session.get(ModelFile, file_id)
    if source is not None and _pending(source):
        log.info("conversion refused", extra={"file_id": file_id, "reason": exc.detail})
        source.conversion = {"status": "Failed", "error": exc.detail}
    if key is not None:
        _drop_unless_recorded(session, key)


def _drop_unless_recorded(session: Session, key: str) -> None:
    """Once the session commits, delete the converted object, unless a file of the catalog is stored there (an
    earlier run of the job recorded it)."""
    if session.scalar(select(ModelFile.id).where(ModelFile.storage_key == key)) is None:
        storage = get_runtime().storage
        on_commit(session, lambda: storage.delete(key))


def _load_tensors(path: Path) -> dict[str, Any]:
    import pickle

    import torch

    try:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # the legacy (non-zip) format cannot be memory-mapped
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise ValidationFailed(f"The checkpoint does not load as plain tensors: {str(exc).splitlines()[0]}") from exc
    tensors = _find_tensors(loaded)
    if not tensors:
        raise ValidationFailed("The checkpoint holds no tensors to convert")
    return tensors


def _find_tensors(loaded: Any) -> dict[str, Any]:
    import torch

    if not isinstance(loaded, dict):
        return {}
    if isinstance(loaded.get("state_dict"), dict):  # a training checkpoint (SD .ckpt, Lightning)
        loaded = loaded["state_dict"]
    elif isinstance(loaded.get("string_to_param"), dict):  # an A1111 textual-inversion embedding
        params = [value for value in loaded["string_to_param"].values() if isinstance(value, torch.Tensor)]
        return {"emb_params": params[0]} if params else {}
    return {str(key): value for key, value in loaded.items() if isinstance(value, torch.Tensor)}


def _save_tensors(tensors: dict[str, Any], target: Path) -> None:
    """Write the tensors as safetensors, one at a time (tied weights become copies: the format has no aliases)."""
    import torch

    dtypes = {
        torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
        torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2", torch.int64: "I64", torch.int32: "I32",
        torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
    }  # fmt: skip
    unknown = sorted({str(tensor.dtype) for tensor in tensors.values() if tensor.dtype not in dtypes})
    if unknown:
        raise ValidationFailed(f"Tensors of type {', '.join(unknown)} have no safetensors equivalent")
    layout = {
        name: (dtypes[tensor.dtype], list(tensor.shape), tensor.numel() * tensor.element_size())
        for name, tensor in tensors.items()
    }
    with target.open("wb") as out:
        out.write(encode_header(layout))
        for tensor in tensors.values():
            data = tensor.detach().contiguous()
            out.write(ctypes.string_at(data.data_ptr(), data.numel() * data.element_size()))
