"""The wizard's last step: publish a model (or a new version of a published one) now, or schedule it for a
wall-clock time in a chosen time zone; and call a schedule off."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from modelyard.accounts.auth import PrincipalDep
from modelyard.catalog import access
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model
from modelyard.catalog.pages.common import CatalogWriter
from modelyard.catalog.pages.edit import editable_model, editable_version, wizard_failed, wizard_page
from modelyard.core.errors import AppError, ValidationFailed
from modelyard.core.http import SessionDep
from modelyard.core.params import Id
from modelyard.web.toolkit import see_other

router = APIRouter(include_in_schema=False)


@cache
def timezones() -> list[str]:
    zones = (zone for zone in available_timezones() if "/" in zone and not zone.startswith(("Etc/", "SystemV/")))
    return ["UTC", *sorted(zone for zone in zones if not zone.startswith(("posix/", "right/")))]


class PublishForm(BaseModel):
    when: str = "now"
    scheduled_at: str = ""
    timezone: str = "UTC"

    def moment(self) -> datetime | None:
        """None for "publish now"; else the chosen wall-clock time in the chosen zone, as UTC."""
        if self.when != "later":
            return None
        if self.timezone not in timezones():
            raise ValidationFailed("Choose a time zone from the list", field="timezone")
        try:
            local = datetime.fromisoformat(self.scheduled_at.strip())
        except ValueError:
            raise ValidationFailed("Pick the date and time to publish at", field="scheduled_at") from None
        if local.tzinfo is None:
            local = local.replace(tzinfo=ZoneInfo(self.timezone))
        return local.astimezone(UTC)


def _publish_context(model: Model, values: PublishForm | None = None, version_id: int | None = None) -> dict[str, Any]:
    versions = [v for v in model.versions if v.status != ModelStatus.Deleted]
    return {
        "model": model,
        "versions": versions,
        "values": values or PublishForm(),
        "form_version": version_id,
        "timezones": timezones(),
    }


@router.get("/models/{model_id:int}/publish", response_class=HTMLResponse)
def publish_page(
    request: Request, model_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    model = editable_model(session, principal, user, model_id)
    return wizard_page(request, "publish", _publish_context(model))


@router.post("/models/{model_id:int}/publish", response_class=HTMLResponse)
def publish_model(
    request: Request,
    model_id: Id,
    user: CatalogWriter,
    principal: PrincipalDep,
    session: SessionDep,
    form: Annotated[PublishForm, Form()],
) -> Response:
    model = access.model_for_write(session, principal, model_id, hidden=True)
    try:
        at = form.moment()
        if at is None:
            lifecycle.publish_model(session, model, user)
        else:
            lifecycle.schedule_model(session, model, user, at=at)
    except AppError as exc:
        return wizard_failed(
            request,
            session,
            "publish",
            exc,
            lambda: _publish_context(editable_model(session, principal, user, model_id), form),
        )
    return see_other(f"/models/{model_id}", done="published" if at is None else "scheduled")


@router.post("/model-versions/{version_id:int}/publish", response_class=HTMLResponse)
def publish_version(
    request: Request,
    version_id: Id,
    user: CatalogWriter,
    principal: PrincipalDep,
    session: SessionDep,
    form: Annotated[PublishForm, Form()],
) -> Response:
    """A new version of a model that is published already: now, or at a set time."""
    version = editable_version(session, principal, user, version_id)
    model_id = version.model_id
    try:
        at = form.moment()
        if at is None:
            lifecycle.publish_version(session, version, user)
        else:
            lifecycle.schedule_version(session, version, user, at=at)
    except AppError as exc:
        return wizard_failed(
            request,
            session,
            "publish",
            exc,
            lambda: _publish_context(editable_model(session, principal, user, model_id), form, version_id),
        )
    target = f"/models/{model_id}?modelVersionId={version_id}"
    return see_other(target, done="published" if at is None else "scheduled")


@router.post("/model-versions/{version_id:int}/cancel-schedule", response_class=HTMLResponse)
def cancel_version_schedule(
    request: Request, version_id: Id, user: CatalogWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    version = editable_version(session, principal, user, version_id)
    try:
        lifecycle.cancel_schedule(session, version, user)
    except AppError as exc:
        return wizard_failed(
            request,
            session,
            "publish",
            exc,
            lambda: _publish_context(editable_model(session, principal, user, version.model_id)),
        )
    return see_other(f"/models/{version.model_id}/publish", done="schedule-cancelled")
