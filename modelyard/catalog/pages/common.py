"""What every catalog page shares: flash messages, who may see a page, form helpers, the buttons a viewer gets.

Pages call the same services, lifecycle, visibility and queries functions as the JSON API: what a visitor may
not see answers the site's ordinary 404 page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.accounts.page_support import LoginRequired, form_failed, page
from modelyard.accounts.redirects import safe_next
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.core.errors import AppError, ValidationFailed

T = TypeVar("T")

# Flash messages by key (`?done=<key>`), as on the account pages: nothing from the URL is ever shown.
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


# --- shared by the catalog's pages ----------------------------------------------------------------------------


def catalog_page(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    flash = FLASH.get(request.query_params.get("done", ""))
    return page(request, template, {"flash": flash, **(context or {})}, status_code=status_code)


def catalog_form_failed(
    request: Request, session: Session, template: str, context: dict[str, Any], error: AppError
) -> HTMLResponse:
    """The form again with what went wrong (the transaction rolled back first)."""
    return form_failed(request, session, template, {"flash": None, **context}, error)


def see_other(path: str, *, done: str | None = None) -> RedirectResponse:
    """Post/Redirect/Get with a catalog flash message."""
    assert done is None or done in FLASH, done
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}done={done}" if done else path, status_code=303)


def back_to(back: str, default: str) -> str:
    """Where a form asked to go back to (a same-site path only), else `default`."""
    return safe_next(back, default) if back else default


def _signed_in(request: Request, principal: PrincipalDep, scope: TokenScope) -> User:
    if principal.user is None:
        # A GET comes back to itself after logging in; a form post cannot be replayed, so it lands on the dashboard.
        target = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else "/my/models")
    return policy.require_scope(principal, scope)


def catalog_reader(request: Request, principal: PrincipalDep) -> User:
    return _signed_in(request, principal, TokenScope.ModelsRead)


def catalog_writer(request: Request, principal: PrincipalDep) -> User:
    return _signed_in(request, principal, TokenScope.ModelsWrite)


CatalogReader = Annotated[User, Depends(catalog_reader)]
CatalogWriter = Annotated[User, Depends(catalog_writer)]


def validated(schema: type[T], data: dict[str, Any]) -> T:
    """A request schema built from form fields; pydantic's complaint becomes a form error naming the field."""
    try:
        return schema(**data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"][:1])
        raise ValidationFailed(f"{field.replace('_', ' ').capitalize()}: {error['msg']}", field=field) from exc


def whole_number(value: str, what: str, field: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise ValidationFailed(f"{what} must be a whole number", field=field)
    return int(value)


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
