"""Scanning uploaded files. Pickle scanning: every file that can carry a pickle is scanned by its content with
picklescan; a file importing anything outside the rebuild functions of torch, numpy and collections is Danger.
Virus scanning: with `MODELYARD_CLAMD_ADDRESS` set, every file is streamed to ClamAV (catalog/virus.py); without
it `virus_scan_result` stays Pending, saying so.

A Danger result from either hides the file, and its version goes down as a violation through the lifecycle's
scan trigger. clamd being unreachable fails the job, so it is retried with backoff and, past its attempts, sent
again by the stalled-scan sweep.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from picklescan.scanner import SafetyLevel, scan_file_path
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from modelyard.catalog.enums import FileVisibility, ScanResult
from modelyard.catalog.models import ModelFile
from modelyard.catalog.triggers import unpublish_for_failed_scan
from modelyard.catalog.virus import Clamd
from modelyard.core.db import utcnow
from modelyard.core.jobs import Priority, job, periodic
from modelyard.core.runtime import get_runtime

log = logging.getLogger("modelyard.catalog")
# Formats whose loaders run no code: nothing to scan.
NO_CODE_FORMATS = frozenset({"SafeTensor", "GGUF", "ONNX"})
NO_VIRUS_SCANNER = "No virus scanner is configured on this server"
STALLED_AFTER = timedelta(hours=1)
# torch.save's legacy format opens with a protocol-2 pickle of its magic number, 0x1950A86A20F9469CFC6C.
_LEGACY_TORCH = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


@job("catalog.scan_file", priority=Priority.HIGH, max_attempts=5)
def scan_file(session: Session, *, file_id: int) -> None:
    """Scan one file and record the results; a Danger result takes its version down."""
    file = session.get(ModelFile, file_id)
    clamd = _clamd()
    if file is None or not _scans_due(file, clamd):
        return  # deleted, or scanned by an earlier attempt
    dangers = []
    if clamd is None:
        file.virus_scan_message = file.virus_scan_message or NO_VIRUS_SCANNER
    elif file.virus_scan_result == ScanResult.Pending:
        with get_runtime().storage.open(file.storage_key) as reader:
            verdict = clamd.scan(reader)  # ClamdUnavailable fails the job: retried, nothing recorded
        file.virus_scan_result, file.virus_scan_message = verdict.result, verdict.message
        if verdict.result == ScanResult.Danger:
            dangers.append(verdict.message)
    if file.pickle_scan_result == ScanResult.Pending:
        result, message = _pickle_scan(file)
        file.pickle_scan_result, file.pickle_scan_message = result, message
        if result == ScanResult.Danger:
            dangers.append(message)
    file.scanned_at = utcnow()
    if dangers:
        file.visibility = FileVisibility.Private  # quarantined: never offered for download
        unpublish_for_failed_scan(session, file, reason="; ".join(dangers))
        log.warning("dangerous file found", extra={"file_id": file.id, "detail": "; ".join(dangers)})


@periodic("catalog.rescan_stalled", cron="*/10 * * * *", priority=Priority.LOW)
def rescan_stalled(session: Session) -> None:
    """Files whose scan was asked for long ago and never finished (a lost job, clamd down for longer than the
    job's retries) are sent again; so are files stored before a virus scanner was configured."""
    pending = ModelFile.pickle_scan_result == ScanResult.Pending
    if _clamd() is not None:
        pending = or_(pending, ModelFile.virus_scan_result == ScanResult.Pending)
    stalled = session.scalars(
        select(ModelFile.id).where(pending, ModelFile.scan_requested_at < utcnow() - STALLED_AFTER).limit(500)
    ).all()
    for file_id in stalled:
        request_scan(session, file_id)


def request_scan(session: Session, file_id: int) -> None:
    file = session.get(ModelFile, file_id)
    if file is not None:
        file.scan_requested_at = utcnow()
        scan_file.enqueue(session, file_id=file_id)


def _clamd() -> Clamd | None:
    address = get_runtime().settings.clamd_address
    return Clamd(address) if address else None


def _scans_due(file: ModelFile, clamd: Clamd | None) -> bool:
    virus_due = clamd is not None and file.virus_scan_result == ScanResult.Pending
    return virus_due or file.pickle_scan_result == ScanResult.Pending


def _pickle_scan(file: ModelFile) -> tuple[ScanResult, str]:
    file_format = (file.metadata_ or {}).get("format")
    if file_format in NO_CODE_FORMATS:
        return ScanResult.Success, "This format holds no code"
    storage = get_runtime().storage
    key = file.storage_key
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "scan"
        with storage.open(key) as source, path.open("wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
        with path.open("rb") as head:
            torch_format = head.read(len(_LEGACY_TORCH)).startswith((b"PK\x03\x04", _LEGACY_TORCH))
        # picklescan reads torch files (zip or legacy) and raw pickles by their suffix: give it the one the
        # content calls for.
        found = scan_file_path(str(path.rename(path.with_suffix(".pt" if torch_format else ".pkl"))))
    if found.scan_err:
        return ScanResult.Error, "The scanner could not read this file"
    unsafe = [g for g in found.globals if g.safety in (SafetyLevel.Dangerous, SafetyLevel.Suspicious)]
    if found.infected_files or unsafe:
        names = ", ".join(sorted({f"{g.module}.{g.name}" for g in unsafe})) or "code outside the allowed set"
        return ScanResult.Danger, f"Imports {names}, which could run code when the file is loaded"
    return ScanResult.Success, "No dangerous imports"
