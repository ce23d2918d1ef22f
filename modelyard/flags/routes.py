"""The feature-flag JSON API: administrators manage flags; anyone asks which flags are on for them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response

from modelyard.accounts.auth import AdminUser, OptionalUser
from modelyard.core.http import RuntimeDep, SessionDep, is_head
from modelyard.flags import service
from modelyard.flags.schemas import FlagCreate, FlagList, FlagOut, FlagUpdate, MyFlags


@asynccontextmanager
async def flags_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the flags before the first request; store the exposures still counted in memory at shutdown."""
    runtime = app.state.runtime
    service.flag_sync(runtime)
    try:
        yield
    finally:
        service.stop_flags(runtime)


admin_router = APIRouter(prefix="/api/admin/flags", tags=["feature flags"], lifespan=flags_lifespan)
router = APIRouter(prefix="/api/flags", tags=["feature flags"])

_ADMIN_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Not logged in"},
    403: {"description": "Not an administrator"},
}
_NOT_FOUND: dict[int | str, dict[str, str]] = {404: {"description": "No such flag"}}


@admin_router.get("", response_model=FlagList, responses=_ADMIN_ERRORS)
def list_flags(session: SessionDep, runtime: RuntimeDep, admin: AdminUser) -> FlagList:
    """Every flag in effect, from the database and from settings, with targeting and exposure counts."""
    return FlagList(flags=service.list_flags(session, runtime.settings))


@admin_router.post(
    "",
    response_model=FlagOut,
    status_code=201,
    responses={**_ADMIN_ERRORS, 409: {"description": "A flag of that name exists"}},
)
def create_flag(data: FlagCreate, session: SessionDep, runtime: RuntimeDep, admin: AdminUser) -> FlagOut:
    """Create a flag. It overrides a settings flag of the same name. A new flag is off until `enabled`."""
    service.create_flag(session, data, actor=admin, events=runtime.events)
    return service.get_flag(session, runtime.settings, data.name)


@admin_router.get("/{name}", response_model=FlagOut, responses={**_ADMIN_ERRORS, **_NOT_FOUND})
def get_flag(name: str, session: SessionDep, runtime: RuntimeDep, admin: AdminUser) -> FlagOut:
    """One flag, from the database or from settings."""
    return service.get_flag(session, runtime.settings, name)


@admin_router.patch("/{name}", response_model=FlagOut, responses={**_ADMIN_ERRORS, **_NOT_FOUND})
def update_flag(name: str, changes: FlagUpdate, session: SessionDep, runtime: RuntimeDep, admin: AdminUser) -> FlagOut:
    """Change some of a flag's fields (roll out by raising `percentage`; switch off with `enabled: false`).
    Changing a flag defined in settings creates a database flag that overrides it. Every process applies the
    change within a second."""
    service.update_flag(session, name, changes, settings=runtime.settings, actor=admin, events=runtime.events)
    return service.get_flag(session, runtime.settings, name)


@admin_router.delete("/{name}", status_code=204, responses={**_ADMIN_ERRORS, **_NOT_FOUND})
def delete_flag(name: str, session: SessionDep, runtime: RuntimeDep, admin: AdminUser) -> Response:
    """Delete a database flag. A settings flag of the same name comes back into effect; exposure counts stay."""
    service.delete_flag(session, name, events=runtime.events)
    return Response(status_code=204)


@router.get("", response_model=MyFlags)
def my_flags(request: Request, runtime: RuntimeDep, user: OptionalUser) -> MyFlags:
    """The flags on for the caller (anonymous callers included) and their A/B variants. Each flag returned
    counts as one exposure (a HEAD request, which sees none of them, counts nothing)."""
    enabled = service.evaluator_for(runtime).enabled_for(user, record=not is_head(request))
    return MyFlags(
        enabled=sorted(enabled),
        variants={name: variant for name, variant in sorted(enabled.items()) if variant is not None},
    )
