"""Pickle scanning: every uploaded file that can carry a pickle is scanned by its content with picklescan. A file
importing anything outside the rebuild functions of torch, numpy and collections is Danger: it is hidden, and
its version goes down as a violation through the lifecycle's scan trigger.

Virus scanning (ClamAV) is not configured in this release: `virus_scan_result` stays Pending, saying so.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from picklescan.scanner import SafetyLevel, scan_file_path
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.catalog.enums import FileVisibility, ScanResult
from modelyard.catalog.models import ModelFile
from modelyard.catalog.triggers import unpublish_for_failed_scan
from modelyard.core.db import utcnow
from modelyard.core.jobs import Priority, job, periodic
from modelyard.core.runtime import get_runtime

log = logging.getLogger("modelyard.catalog")
# Formats whose loaders run no code: nothing to scan.
NO_CODE_FORMATS = frozenset({"SafeTensor", "GGUF", "ONNX"})
NO_VIRUS_SCANNER = "No virus scanner is configured on this server"
STALLED_AFTER = timedelta(hours=1)


@job("catalog.scan_file", priority=Priority.HIGH, max_attempts=5)
def scan_file(session: Session, *, file_id: int) -> None:
    """Scan one file and record the result; a Danger result takes its version down."""
    file = session.get(ModelFile, file_id)
    if file is None or file.pickle_scan_result != ScanResult.Pending:
        return  # deleted, or scanned by an earlier attempt
    file.virus_scan_message = file.virus_scan_message or NO_VIRUS_SCANNER
    if (file.metadata_ or {}).get("format") in NO_CODE_FORMATS:
        _record(file, ScanResult.Success, "This format holds no code")
        return
    result, message = _scan_stored(file.storage_key, (file.metadata_ or {}).get("format"))
    _record(file, result, message)
    if result == ScanResult.Danger:
        file.visibility = FileVisibility.Private  # quarantined: never offered for download
        unpublish_for_failed_scan(session, file, reason=message)
        log.warning("dangerous pickle found", extra={"file_id": file.id, "detail": message})


@periodic("catalog.rescan_stalled", cron="*/10 * * * *", priority=Priority.LOW)
def rescan_stalled(session: Session) -> None:
    """Files whose scan was asked for long ago and never finished (a lost job) are sent again."""
    stalled = session.scalars(
        select(ModelFile.id)
        .where(
            ModelFile.pickle_scan_result == ScanResult.Pending,
            ModelFile.scan_requested_at < utcnow() - STALLED_AFTER,
        )
        .limit(500)
    ).all()
    for file_id in stalled:
        request_scan(session, file_id)


def request_scan(session: Session, file_id: int) -> None:
    file = session.get(ModelFile, file_id)
    if file is not None:
        file.scan_requested_at = utcnow()
        scan_file.enqueue(session, file_id=file_id)


def _record(file: ModelFile, result: ScanResult, message: str) -> None:
    file.pickle_scan_result = result
    file.pickle_scan_message = message
    file.scanned_at = utcnow()


def _scan_stored(key: str, file_format: str | None) -> tuple[ScanResult, str]:
    storage = get_runtime().storage
    # picklescan reads torch zips and raw pickles by their suffix; the content already told us which this is.
    suffix = ".pkl" if file_format == "PickleTensor" else ".pt"
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"scan{suffix}"
        with storage.open(key) as source, path.open("wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
        found = scan_file_path(str(path))
    if found.scan_err:
        return ScanResult.Error, "The scanner could not read this file"
    unsafe = [g for g in found.globals if g.safety in (SafetyLevel.Dangerous, SafetyLevel.Suspicious)]
    if found.infected_files or unsafe:
        names = ", ".join(sorted({f"{g.module}.{g.name}" for g in unsafe})) or "code outside the allowed set"
        return ScanResult.Danger, f"Imports {names}, which could run code when the file is loaded"
    return ScanResult.Success, "No dangerous imports"
