"""What the catalog's pages share beyond the page toolkit (`modelyard.web.toolkit`): their flash messages, who may
open the owner's pages, how statuses and sizes read, and the buttons a viewer gets.

Pages call the same services, lifecycle, visibility and queries functions as the JSON API: what a visitor may
not see answers the site's ordinary 404 page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.web.toolkit import login_required, register_flash

FLASH = {
    "model-created": "Your model is created as a draft. Add a version next.",
    "model-saved": "The model's details are saved.",
    "version-created": "The version is created. Upload its files next.",
    "version-saved": "The version's details are saved.",
    "version-deleted": "The version is deleted.",
    "file-uploaded": "The file is uploaded and hashed.",
    "file-deleted": "The file is deleted.",
    "conversion-requested": "Converting to safetensors: the new file appears here when it is ready.",
    "published": "Published! Everyone can see it now.",
    "scheduled": "Scheduled: it goes live at the time you chose.",
    "schedule-cancelled": "The schedule is cancelled; it is a draft again.",
    "unpublished": "Unpublished: only you and moderators can see it now.",
    "deleted": "The model is deleted.",
    "restored": "The model is restored as unpublished; its owner can publish it again.",
    "file-cleared": "The file is cleared: it can be downloaded and published again.",
    "file-blocked": "The file is blocked, and its version is down as a violation.",
    "file-rescan": "The file is being scanned again; it stays held until the scan is clean.",
}
STATUS_BADGES = {
    ModelStatus.Published: "badge--ok",
    ModelStatus.Scheduled: "badge--accent",
    ModelStatus.Training: "badge--accent",
    ModelStatus.Unpublished: "badge--warn",
    ModelStatus.UnpublishedViolation: "badge--bad",
    ModelStatus.Deleted: "badge--bad",
}
STATUS_LABELS = {ModelStatus.UnpublishedViolation: "Unpublished (violation)", ModelStatus.GatherInterest: "Gathering"}


register_flash(FLASH)

# A form posted by someone logged out meanwhile cannot be replayed: they land on their dashboard.
CatalogReader = Annotated[User, Depends(login_required(TokenScope.ModelsRead, after_post="/my/models"))]
CatalogWriter = Annotated[User, Depends(login_required(TokenScope.ModelsWrite, after_post="/my/models"))]


def filesize(size_kb: float) -> str:
    """`1.9 GB`, `144 KB`: sizes as people read them (powers of 1024, as downloads are shown everywhere)."""
    size = float(size_kb) * 1024
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover - the loop returns


@dataclass(frozen=True)
class ModelActions:
    """Which buttons a viewer gets for a model in a given status (the lifecycle still decides on submit)."""

    edit: bool = False
    publish: bool = False
    unpublish: bool = False
    moderate: bool = False
    delete: bool = False
    cancel_schedule: bool = False
    restore: bool = False
    history: bool = False

    @classmethod
    def of(cls, viewer: User | None, status: ModelStatus, owner_id: int) -> ModelActions:
        if not policy.is_owner_or_moderator(viewer, owner_id):
            return cls()
        staff = policy.is_moderator(viewer)
        following = lifecycle.allowed_next(status)
        return cls(
            edit=status != ModelStatus.Deleted,
            publish=ModelStatus.Published in following and (staff or status != ModelStatus.UnpublishedViolation),
            unpublish=status == ModelStatus.Published,
            moderate=staff and ModelStatus.UnpublishedViolation in following,
            delete=ModelStatus.Deleted in following,
            cancel_schedule=status == ModelStatus.Scheduled,
            restore=staff and status == ModelStatus.Deleted,
            history=True,
        )
