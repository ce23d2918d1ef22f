"""Moderators' decisions on files a scan could not judge (an Error: too large, timed out, unreadable), which stay
hidden and unpublishable until then (catalog/files/quarantine.py):

- clear: the file is offered again; its Error results become Success, saying who cleared it, when and why;
- block: its Error results become Danger, and its version goes down as a violation like any Danger file;
- rescan: its Error results go back to Pending and the scan runs again (after raising a limit, or once clamd
  accepts larger files); the file stays hidden until a clean result.

Each decision is kept in the file's `raw_scan_result["decisions"]` with the results it replaced.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.catalog.enums import ScanResult
from modelyard.catalog.files import quarantine
from modelyard.catalog.files.scanning import release, request_scan
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.lifecycle.triggers import unpublish_for_failed_scan
from modelyard.catalog.models import ModelFile, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict, Forbidden, NotFound, ValidationFailed

MAX_REASON = 2000


class ScanDecision(enum.StrEnum):
    clear = "clear"
    block = "block"
    rescan = "rescan"


def awaiting_decision(session: Session, *, after: int | None = None, limit: int = 100) -> Sequence[ModelFile]:
    """Files waiting for a decision, oldest first (`after`: only files with a larger id, for paging)."""
    query = select(ModelFile).where(quarantine.awaiting_decision_clause())
    if after is not None:
        query = query.where(ModelFile.id > after)
    options = selectinload(ModelFile.version).selectinload(ModelVersion.model)
    return session.scalars(query.options(options).order_by(ModelFile.id).limit(limit)).all()


def decide(session: Session, moderator: User, file_id: int, decision: ScanDecision, reason: str) -> ModelFile:
    """Apply a moderator's decision to a file waiting for one; a file that is not waiting is a conflict (decided
    already by someone else, or scanned again meanwhile)."""
    if not policy.is_moderator(moderator):
        raise Forbidden("Only moderators decide on files a scan could not judge")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why: a reason is required", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"The reason is at most {MAX_REASON} characters", field="reason")
    file = session.get(ModelFile, file_id, with_for_update=True) if 0 < file_id < 2**31 else None
    if file is None:
        raise NotFound(f"No model file with id {file_id}")
    if not quarantine.awaits_decision(file):
        raise Conflict(
            f"File {file_id} is not waiting for a decision (pickle scan {file.pickle_scan_result.value}, "
            f"virus scan {file.virus_scan_result.value})"
        )
    now = utcnow()
    record = {
        "decision": decision.value,
        "moderatorId": moderator.id,
        "moderator": moderator.username,
        "at": effects.iso(now),
        "reason": reason,
        "replaced": {
            "pickle": [file.pickle_scan_result.value, file.pickle_scan_message],
            "virus": [file.virus_scan_result.value, file.virus_scan_message],
        },
    }
    raw = dict(file.raw_scan_result or {})
    file.raw_scan_result = {**raw, "decisions": [*raw.get("decisions", []), record]}
    said = f"{moderator.username} on {now:%Y-%m-%d %H:%M} UTC: {reason}"
    if decision == ScanDecision.clear:
        _replace_errors(file, ScanResult.Success, lambda old: f"Cleared by moderator {said} (the scan said: {old})")
        release(session, file)
    elif decision == ScanDecision.block:
        _replace_errors(file, ScanResult.Danger, lambda old: f"Blocked by moderator {said} (the scan said: {old})")
        unpublish_for_failed_scan(session, file, reason=f"blocked by a moderator: {reason}")
    else:
        _replace_errors(file, ScanResult.Pending, lambda _old: f"Scanning again, asked by moderator {said}")
        request_scan(session, file.id)
    effects.invalidate_model(session, file.version.model_id)
    session.flush()
    return file


def _replace_errors(file: ModelFile, result: ScanResult, message: Callable[[str], str]) -> None:
    if file.pickle_scan_result == ScanResult.Error:
        file.pickle_scan_result, file.pickle_scan_message = result, message(file.pickle_scan_message or "")
    if file.virus_scan_result == ScanResult.Error:
        file.virus_scan_result, file.virus_scan_message = result, message(file.virus_scan_message or "")
