"""The admin page for feature flags: plain HTML forms (no JavaScript needed) to create, edit and roll out.

Its notice after a change names the flag (`?saved=<name>`, echoed only when it is the name of a flag), so it is
the page's own rather than one of the toolkit's flash messages."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from modelyard.accounts.models import Role, User
from modelyard.core.errors import Conflict, ValidationFailed
from modelyard.core.http import RuntimeDep, SessionDep
from modelyard.core.runtime import Runtime
from modelyard.flags import service
from modelyard.flags.schemas import FlagCreate, FlagOut, FlagRules, FlagUpdate
from modelyard.web.toolkit import PageAdmin, page

router = APIRouter(prefix="/admin/flags", include_in_schema=False)

QUICK_PERCENTAGES = (0, 1, 5, 10, 25, 50, 100)
_SEPARATORS = re.compile(r"[\s,;]+")

TextField = Annotated[str, Form()]
CheckBox = Annotated[str | None, Form()]


def _form_data(
    description: str,
    enabled: str | None,
    everyone: str | None,
    roles: list[str],
    user_ids: str,
    percentage: str,
    variants: str,
) -> dict[str, Any]:
    """The raw form as the API's JSON shape. Nothing is validated here: pydantic does it and names the field."""
    return {
        "description": description.strip(),
        "enabled": enabled is not None,
        "everyone": everyone is not None,
        "roles": roles,
        "user_ids": [token for token in _SEPARATORS.split(user_ids) if token],
        "percentage": percentage.strip() or "0",
        "variants": [_variant(line) for line in variants.splitlines() if line.strip()] or None,
    }


def _variant(line: str) -> dict[str, str]:
    # "name=weight"; a bare name weighs 1, so "a\nb" splits evenly.
    name, _, weight = line.partition("=")
    return {"name": name.strip(), "weight": weight.strip() or "1"}


def _form_values(flag: FlagOut | None = None, name: str = "") -> dict[str, Any]:
    """What the form fields show: a flag's rules, or the defaults for a new one."""
    rules: FlagRules = flag or FlagRules()
    return {
        "name": flag.name if flag else name,
        "description": rules.description,
        "enabled": rules.enabled,
        "everyone": rules.everyone,
        "roles": [role.value for role in rules.roles],
        "user_ids": ", ".join(str(user_id) for user_id in rules.user_ids),
        "percentage": rules.percentage,
        "variants": "\n".join(f"{v.name}={v.weight}" for v in rules.variants or []),
    }


def targeting_summary(flag: FlagOut) -> str:
    """Who the rules reach, in a few words: `everyone; roles: admin; 3 listed users; 20 % of users`."""
    parts = []
    if flag.everyone:
        parts.append("everyone")
    if flag.roles:
        parts.append("roles: " + ", ".join(role.value for role in flag.roles))
    if flag.user_ids:
        count = len(flag.user_ids)
        parts.append(f"{count} listed user{'s' if count != 1 else ''}")
    if flag.percentage:
        parts.append(f"{flag.percentage} % of users")
    return "; ".join(parts) or "nobody"


def _error_lines(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        lines.append(f"{field}: {error['msg']}" if field else str(error["msg"]))
    return lines


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        # What the administration layout (admin/_admin.html) reads; only administrators get this far.
        "section": "flags",
        "is_admin": True,
        "flash": None,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "roles": [role.value for role in Role],
        "errors": [],
        **context,
    }
    if "flags" in context:
        context["targeting"] = {flag.name: targeting_summary(flag) for flag in context["flags"]}
    return page(request, template, context, status_code=status_code)


def _back_to_list(saved: str | None = None) -> RedirectResponse:
    target = f"/admin/flags?saved={quote(saved)}" if saved else "/admin/flags"
    return RedirectResponse(target, status_code=303)


@router.get("", response_class=HTMLResponse)
def flags_page(
    request: Request, session: SessionDep, runtime: RuntimeDep, admin: PageAdmin, saved: str | None = None
) -> HTMLResponse:
    flags = service.list_flags(session, runtime.settings)
    # Only a name that is a flag is echoed, so a crafted link cannot make the page say something else.
    flash = f"Saved {saved}." if saved in {flag.name for flag in flags} else None
    context = {"flags": flags, "flash": flash, "form": _form_values(), "quick_percentages": QUICK_PERCENTAGES}
    return _page(request, "admin/flags.html", context)


@router.post("", response_class=HTMLResponse)
def create_flag(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    admin: PageAdmin,
    name: TextField = "",
    description: TextField = "",
    enabled: CheckBox = None,
    everyone: CheckBox = None,
    roles: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults per request
    user_ids: TextField = "",
    percentage: TextField = "0",
    variants: TextField = "",
) -> Response:
    raw = _form_data(description, enabled, everyone, roles, user_ids, percentage, variants)
    form = {**raw, "name": name, "user_ids": user_ids, "variants": variants, "percentage": percentage}
    try:
        data = FlagCreate.model_validate({**raw, "name": name.strip()})
    except ValidationError as exc:
        return _list_again(request, session, runtime, form, _error_lines(exc), 422)
    try:
        service.create_flag(session, data, actor=admin, events=runtime.events)
    except Conflict as exc:
        return _list_again(request, session, runtime, form, [exc.detail], exc.status_code)
    return _back_to_list(data.name)


def _list_again(
    request: Request, session: Session, runtime: Runtime, form: dict[str, Any], errors: list[str], status: int
) -> HTMLResponse:
    """The list page with the create form as it was sent and what is wrong with it."""
    context = {
        "flags": service.list_flags(session, runtime.settings),
        "form": form,
        "errors": errors,
        "quick_percentages": QUICK_PERCENTAGES,
    }
    return _page(request, "admin/flags.html", context, status_code=status)


@router.get("/{name}", response_class=HTMLResponse)
def edit_page(name: str, request: Request, session: SessionDep, runtime: RuntimeDep, admin: PageAdmin) -> HTMLResponse:
    flag = service.get_flag(session, runtime.settings, name)
    return _page(request, "admin/flags_edit.html", {"flag": flag, "form": _form_values(flag)})


@router.post("/{name}", response_class=HTMLResponse)
def update_flag(
    name: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    admin: PageAdmin,
    description: TextField = "",
    enabled: CheckBox = None,
    everyone: CheckBox = None,
    roles: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults per request
    user_ids: TextField = "",
    percentage: TextField = "0",
    variants: TextField = "",
) -> Response:
    flag = service.get_flag(session, runtime.settings, name)
    raw = _form_data(description, enabled, everyone, roles, user_ids, percentage, variants)
    try:
        changes = FlagUpdate.model_validate(raw)
    except ValidationError as exc:
        form = {**raw, "name": name, "user_ids": user_ids, "variants": variants, "percentage": percentage}
        context = {"flag": flag, "form": form, "errors": _error_lines(exc)}
        return _page(request, "admin/flags_edit.html", context, status_code=422)
    _change(session, runtime, admin, name, changes)
    return _back_to_list(name)


@router.post("/{name}/toggle")
def toggle_flag(name: str, session: SessionDep, runtime: RuntimeDep, admin: PageAdmin) -> RedirectResponse:
    flag = service.get_flag(session, runtime.settings, name)
    _change(session, runtime, admin, name, FlagUpdate(enabled=not flag.enabled))
    return _back_to_list(name)


@router.post("/{name}/percentage")
def set_percentage(
    name: str, session: SessionDep, runtime: RuntimeDep, admin: PageAdmin, percentage: TextField = ""
) -> RedirectResponse:
    """Quick roll-out. An invalid percentage is answered by the 422 error page and changes nothing."""
    service.get_flag(session, runtime.settings, name)
    try:
        changes = FlagUpdate.model_validate({"percentage": percentage.strip()})
    except ValidationError as exc:
        raise _invalid(exc) from exc
    _change(session, runtime, admin, name, changes)
    return _back_to_list(name)


@router.post("/{name}/delete")
def delete_flag(name: str, session: SessionDep, runtime: RuntimeDep, admin: PageAdmin) -> RedirectResponse:
    service.delete_flag(session, name, events=runtime.events)
    return _back_to_list()


def _change(session: Session, runtime: Runtime, admin: User, name: str, changes: FlagUpdate) -> None:
    service.update_flag(session, name, changes, settings=runtime.settings, actor=admin, events=runtime.events)


def _invalid(exc: ValidationError) -> ValidationFailed:
    return ValidationFailed("; ".join(_error_lines(exc)))
