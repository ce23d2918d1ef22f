"""Which files their scans hold back, in Python and in SQL side by side: one rule for publishing, downloads and the
moderators' queue.

A Danger result (malware, a pickle importing code) is final: the file stays hidden and its version went down as a
violation. An Error result (a scan that could not finish: too large, timed out, unreadable) is no verdict on the
file, so it is held the same way until a moderator clears it, blocks it, or has it scanned again. A file that can
carry code (anything but safetensors) is also held while its pickle scan is Pending: a stranger's checkpoint is
not offered, nor published, before it was looked at. A safetensors file runs no code when loaded and is offered
while its scans are under way.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from modelyard.catalog.enums import ScanResult
from modelyard.catalog.models import ModelFile

HELD = (ScanResult.Danger, ScanResult.Error)
# Formats whose loaders run no code: nothing to scan for, nothing to wait for.
NO_CODE_FORMATS = frozenset({"SafeTensor"})


def is_held(file: ModelFile) -> bool:
    """The file may not be published or downloaded."""
    return file.pickle_scan_result in HELD or file.virus_scan_result in HELD or awaits_first_scan(file)


def awaits_first_scan(file: ModelFile) -> bool:
    """A file that could run code when loaded, not scanned yet."""
    return file.pickle_scan_result == ScanResult.Pending and (file.metadata_ or {}).get("format") not in NO_CODE_FORMATS


def awaits_decision(file: ModelFile) -> bool:
    """A scan errored and nothing found danger: a moderator has to decide."""
    results = (file.pickle_scan_result, file.virus_scan_result)
    return ScanResult.Error in results and ScanResult.Danger not in results


def held_clause() -> ColumnElement[bool]:
    """Files a scan verdict (Danger or Error) holds; `is_held` also holds code-carrying files awaiting a scan."""
    return or_(ModelFile.pickle_scan_result.in_(HELD), ModelFile.virus_scan_result.in_(HELD))


def awaiting_decision_clause() -> ColumnElement[bool]:
    return and_(
        or_(ModelFile.pickle_scan_result == ScanResult.Error, ModelFile.virus_scan_result == ScanResult.Error),
        ModelFile.pickle_scan_result != ScanResult.Danger,
        ModelFile.virus_scan_result != ScanResult.Danger,
    )
