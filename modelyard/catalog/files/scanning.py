"""Scanning uploaded files. Pickle scanning: every file a loader could unpickle is walked, opcode by opcode and
never loaded, in a child process with memory and time limits (catalog/files/pickle_scan.py); a file importing anything
outside the rebuild functions of torch, numpy and collections is Danger. Virus scanning: with
`MODELYARD_CLAMD_ADDRESS` set, every file is streamed to ClamAV (core/virus.py); without it
`virus_scan_result` stays Pending and every file says, once, that it was not scanned for viruses on this server
(`virus_scan_message`), in the API and on its page.

A Danger result from either hides the file, and its version goes down as a violation through the lifecycle's
scan trigger. An Error result (a scan that could not finish: too large, timed out, unreadable) hides the file too
and blocks publishing until a moderator decides (catalog/files/scan_review.py); see catalog/files/quarantine.py.
clamd being unreachable fails the job, so it is retried with backoff and, past its attempts, sent again by the
stalled-scan sweep; a scan that hits a limit is the file's doing and is recorded, not retried.

The scans of a multi-gigabyte file take minutes and run with no transaction open: what they need is read in a
short session of its own (on SQLite the job's session holds the write lock from its first statement, so using it
would keep every other writer waiting), and the job's session only records the results, on the file read again.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from modelyard.catalog.enums import FileVisibility, ScanResult
from modelyard.catalog.files import quarantine
from modelyard.catalog.files.pickle_scan import PickleVerdict, ScanLimits, scan_in_sandbox
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.lifecycle.triggers import unpublish_for_failed_scan
from modelyard.catalog.models import ModelFile
from modelyard.core.db import utcnow
from modelyard.core.jobs import enqueue
from modelyard.core.runtime import get_runtime
from modelyard.core.virus import Clamd, Verdict, VirusScan

log = logging.getLogger("modelyard.catalog")
# Formats whose loaders run no code: nothing to scan. Only safetensors, whose header was parsed and checked in full
# on upload; GGUF and ONNX are told by a few leading bytes, which a pickle can carry too, so they are walked.
# Until a virus scanner is configured, what every file says of its virus scan (its result stays Pending, one of
# Civitai's four values, so clients that check it keep working).
NOT_SCANNED = "Not scanned for viruses on this server"
STALLED_AFTER = timedelta(hours=1)
# raw_scan_result["heldByScan"]: the scan hid the file, so a later clean scan shows it again.
HELD_BY_SCAN = "heldByScan"


@dataclass(frozen=True)
class _Target:
    """What the scans need, read before they start: the file as it was then."""

    storage_key: str
    file_format: str | None
    virus_due: bool
    pickle_due: bool


def scan_file(session: Session, *, file_id: int) -> None:
    """Scan one file and record the results; a Danger result takes its version down, an Error holds the file."""
    clamd = _clamd()
    target = _read_target(file_id, clamd)
    if target is None:
        return  # deleted, or scanned by an earlier attempt
    virus = None
    if clamd is not None and target.virus_due:
        with get_runtime().storage.open(target.storage_key) as reader:
            virus = clamd.scan(reader)  # ClamdUnavailable fails the job: retried, nothing recorded
    pickle = _pickle_scan(target) if target.pickle_due else None
    _record(session, file_id, target, clamd=clamd, virus=virus, pickle=pickle)


def rescan_stalled(session: Session) -> None:
    """Files whose scan was asked for long ago and never finished (a lost job, clamd down for longer than the
    job's retries) are sent again; so are files stored before a virus scanner was configured. Files whose scan
    errored before errors held files (still shown) are held now."""
    pending = ModelFile.pickle_scan_result == ScanResult.Pending
    if _clamd() is not None:
        pending = or_(pending, ModelFile.virus_scan_result == ScanResult.Pending)
    stalled = session.scalars(
        select(ModelFile.id).where(pending, ModelFile.scan_requested_at < utcnow() - STALLED_AFTER).limit(500)
    ).all()
    for file_id in stalled:
        request_scan(session, file_id)
    shown = session.scalars(
        select(ModelFile).where(quarantine.held_clause(), ModelFile.visibility != FileVisibility.Private).limit(500)
    ).all()
    for file in shown:
        _hold(session, file)


def virus_scanner_configured() -> bool:
    return bool(get_runtime().settings.clamd_address)


def virus_scan_message(result: str, message: str | None, *, scanner: bool) -> str | None:
    """What a file says of its virus scan, in the API and on its page: while it is Pending, that it was not scanned
    on this server when no scanner is configured (whatever an earlier scan job recorded), else nothing yet; once
    scanned, the scanner's own message."""
    if result == ScanResult.Pending:
        return None if scanner else NOT_SCANNED
    return message


def request_scan(session: Session, file_id: int) -> None:
    file = session.get(ModelFile, file_id)
    if file is not None:
        file.scan_requested_at = utcnow()
        enqueue(session, "catalog.scan_file", file_id=file_id)


_VIRUS_RESULT = {
    Verdict.CLEAN: ScanResult.Success,
    Verdict.INFECTED: ScanResult.Danger,
    Verdict.UNSCANNABLE: ScanResult.Error,
}


def _clamd() -> Clamd | None:
    address = get_runtime().settings.clamd_address
    return Clamd(address) if address else None


def _scans_due(file: ModelFile, clamd: Clamd | None) -> bool:
    virus_due = clamd is not None and file.virus_scan_result == ScanResult.Pending
    return virus_due or file.pickle_scan_result == ScanResult.Pending


def _read_target(file_id: int, clamd: Clamd | None) -> _Target | None:
    with get_runtime().db.session() as reader:
        file = reader.get(ModelFile, file_id)
        if file is None or not _scans_due(file, clamd):
            return None
        return _Target(
            storage_key=file.storage_key,
            file_format=(file.metadata_ or {}).get("format"),
            virus_due=file.virus_scan_result == ScanResult.Pending,
            pickle_due=file.pickle_scan_result == ScanResult.Pending,
        )


def _pickle_scan(target: _Target) -> PickleVerdict:
    if target.file_format in quarantine.NO_CODE_FORMATS:
        return PickleVerdict(ScanResult.Success, "This format holds no code")
    runtime = get_runtime()
    settings = runtime.settings
    limits = ScanLimits(
        timeout_seconds=settings.pickle_scan_timeout_seconds,
        memory_mb=settings.pickle_scan_memory_mb,
        max_bytes=settings.pickle_scan_max_bytes,
        max_opcodes=settings.pickle_scan_max_opcodes,
    )
    with tempfile.TemporaryDirectory(prefix="modelyard-scan-") as directory:
        path = Path(directory) / "scan"
        with runtime.storage.open(target.storage_key) as source, path.open("wb") as copy:
            shutil.copyfileobj(source, copy, 1024 * 1024)
        return scan_in_sandbox(path, limits)


def _record(
    session: Session,
    file_id: int,
    target: _Target,
    *,
    clamd: Clamd | None,
    virus: VirusScan | None,
    pickle: PickleVerdict | None,
) -> None:
    """Record what the scans found, on the file as it is now: only results still due (an earlier delivery of the
    job may have recorded them), and nothing for a file deleted or replaced meanwhile."""
    file = session.get(ModelFile, file_id)
    if file is None or file.storage_key != target.storage_key:
        return
    dangers = []
    if clamd is None:
        file.virus_scan_message = NOT_SCANNED
    elif virus is not None and file.virus_scan_result == ScanResult.Pending:
        file.virus_scan_result, file.virus_scan_message = _VIRUS_RESULT[virus.verdict], virus.message
        if virus.verdict is Verdict.INFECTED:
            dangers.append(virus.message)
    if pickle is not None and file.pickle_scan_result == ScanResult.Pending:
        file.pickle_scan_result, file.pickle_scan_message = pickle.result, pickle.message
        if pickle.details:
            file.raw_scan_result = {**(file.raw_scan_result or {}), "pickle": pickle.details}
        if pickle.result == ScanResult.Danger:
            dangers.append(pickle.message)
    file.scanned_at = utcnow()
    if quarantine.is_held(file):
        _hold(session, file)
    elif (file.raw_scan_result or {}).get(HELD_BY_SCAN):
        release(session, file)  # scanned again at a moderator's request, and clean this time
    if dangers:
        unpublish_for_failed_scan(session, file, reason="; ".join(dangers))
        log.warning("dangerous file found", extra={"file_id": file.id, "detail": "; ".join(dangers)})
    elif quarantine.awaits_decision(file):
        log.warning("file held until a moderator decides", extra={"file_id": file.id})


def _hold(session: Session, file: ModelFile) -> None:
    """Quarantine: never offered for download (nor listed) while its scans hold it."""
    if file.visibility != FileVisibility.Private:
        file.visibility = FileVisibility.Private
        file.raw_scan_result = {**(file.raw_scan_result or {}), HELD_BY_SCAN: True}
        effects.invalidate_model(session, file.version.model_id)


def release(session: Session, file: ModelFile) -> None:
    """Show a file its scans had hidden again."""
    raw = dict(file.raw_scan_result or {})
    if raw.pop(HELD_BY_SCAN, None):
        file.visibility = FileVisibility.Public
        file.raw_scan_result = raw
        effects.invalidate_model(session, file.version.model_id)
