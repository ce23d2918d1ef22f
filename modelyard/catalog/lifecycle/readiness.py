"""What may be published, and what publishing a model brings along with it: the checks on a version's files,
and the choice of versions a (re)publish of the model publishes now or schedules again. Read by `transitions`,
which makes the moves, and by pages, which offer only the buttons that would work."""

from __future__ import annotations

from datetime import datetime

from modelyard.catalog.enums import ModelStatus, ScanResult
from modelyard.catalog.files import quarantine
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.errors import Conflict, ValidationFailed

S = ModelStatus


def live_files(version: ModelVersion) -> list[ModelFile]:
    return [file for file in version.files if file.replaced_at is None]


def check_publishable(version: ModelVersion) -> None:
    files = live_files(version)
    if not files:
        raise Conflict(f"Version {version.name!r} has no files: upload one before publishing it")
    for file in files:
        if ScanResult.Danger in (file.pickle_scan_result, file.virus_scan_result):
            raise Conflict(f"File {file.name!r} of version {version.name!r} failed its scan and cannot be published")
        if quarantine.awaits_first_scan(file):
            raise Conflict(
                f"File {file.name!r} of version {version.name!r} is still being scanned: publish it once the scan "
                "has passed (usually within a minute)"
            )
        if quarantine.is_held(file):
            raise Conflict(
                f"File {file.name!r} of version {version.name!r} could not be scanned: it cannot be published until "
                "a moderator decides"
            )


def publishable(version: ModelVersion) -> bool:
    """Whether the version's files allow publishing it (what `check_publishable` refuses, as a yes or no)."""
    try:
        check_publishable(version)
    except Conflict:
        return False
    return True


def _went_down_with_model(version: ModelVersion) -> bool:
    return version.status in (S.Unpublished, S.UnpublishedViolation) and bool(version.meta.get("unpublishedWithModel"))


def _still_ahead(version: ModelVersion, now: datetime) -> bool:
    """Whether the version has a publication time that has not come yet."""
    return version.scheduled_for is not None and version.scheduled_for > now


def versions_to_bring(
    model: Model, version_ids: list[int] | None, now: datetime
) -> tuple[list[ModelVersion], list[ModelVersion]]:
    """What publishing the model brings along: (versions published now, versions Scheduled again).

    By default: its drafts, and the versions that went down with it; a version that was Scheduled when it went
    down is Scheduled again if its time is still ahead (republishing never publishes early). A Scheduled version
    publishes now only when the model's own schedule is being brought forward (or its time has come); otherwise
    it keeps its time. `version_ids` names the versions to publish now instead."""
    if version_ids is not None:
        by_id = {version.id: version for version in model.versions}
        unknown = [vid for vid in version_ids if vid not in by_id]
        if unknown:
            raise ValidationFailed(f"Versions {unknown} are not versions of model {model.id}")
        return [by_id[vid] for vid in version_ids if by_id[vid].status != S.Published], []
    ahead = {version.id: _still_ahead(version, now) for version in model.versions}
    drafts = [v for v in model.versions if v.status in (S.Draft, S.Training)]
    scheduled = [
        v for v in model.versions if v.status == S.Scheduled and (model.status == S.Scheduled or not ahead[v.id])
    ]
    returning = [v for v in model.versions if _went_down_with_model(v)]
    return [*drafts, *scheduled, *(v for v in returning if not ahead[v.id])], [v for v in returning if ahead[v.id]]
