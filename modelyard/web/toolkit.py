"""How every domain writes an HTML page: one way to render, to answer a form, to show what went wrong, and to
decide who may see a page.

    from modelyard.web.toolkit import form_failed, page, register_flash, see_other

    register_flash({"model-saved": "The model's details are saved."})   # once, where the domain's pages live

    @router.post("/models/{model_id}/edit")
    def save(request: Request, user: CatalogWriter, session: SessionDep, name: Text = "") -> Response:
        try:
            service.rename(session, user, model_id, name)
        except AppError as exc:
            return form_failed(request, session, "catalog/model_form.html", {"name": name}, exc)
        return see_other(f"/models/{model_id}", done="model-saved")

Flash messages are looked up by key (`?done=<key>`) in one registry each domain adds its keys to: nothing from
the URL is ever shown, so a crafted link cannot put words in the site's mouth. A page behind a log-in sends an
anonymous visitor to the log-in form (`LoginRequired`), then back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.auth import Principal, PrincipalDep
from modelyard.accounts.models import User
from modelyard.accounts.redirects import safe_next
from modelyard.accounts.scopes import TokenScope
from modelyard.core.errors import AppError, ValidationFailed
from modelyard.web.templating import install_error_page, render

T = TypeVar("T")

# --- flash messages -------------------------------------------------------------------------------------------

_FLASH: dict[str, str] = {}


def register_flash(messages: Mapping[str, str]) -> None:
    """Add a domain's flash messages. A key two domains give different words to is a mistake, caught here."""
    for key, message in messages.items():
        known = _FLASH.get(key)
        if known is not None and known != message:
            raise ValueError(f"the flash message {key!r} is registered twice with different words")
        _FLASH[key] = message


def flash_message(request: Request) -> str | None:
    return _FLASH.get(request.query_params.get("done", ""))


# --- rendering and answering ----------------------------------------------------------------------------------


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page with what every page's layout reads: the flash message of `?done=` (unless `context` gives its own)
    and no form error."""
    base = {"flash": flash_message(request), "error": None, "error_field": None}
    return render(request, template, {**base, **(context or {})}, status_code=status_code, headers=headers)


def see_other(path: str, *, done: str | None = None) -> RedirectResponse:
    """Post/Redirect/Get: the answer to a successful form, with the key of its flash message."""
    assert done is None or done in _FLASH, f"unregistered flash message {done!r}"
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}done={done}" if done else path, status_code=303)


def form_failed(
    request: Request,
    session: Session,
    template: str,
    context: dict[str, Any],
    error: AppError,
    *,
    render_page: Callable[..., HTMLResponse] = page,
) -> HTMLResponse:
    """The form again, with what went wrong and the status of the error. The transaction is rolled back first: a
    service may have written something before it refused (a reset link marked used before the new password was
    found too weak), and the page must show things as they still are. `render_page` is a domain's own `page`
    when its layout needs more."""
    session.rollback()
    context = {"flash": None, **context, "error": error.detail, "error_field": error.extra.get("field")}
    return render_page(request, template, context, status_code=error.status_code, headers=error.headers or None)


def back_to(back: str, default: str) -> str:
    """Where a form asked to go back to (a same-site path only), else `default`."""
    return safe_next(back, default) if back else default


# --- who may see a page ---------------------------------------------------------------------------------------


class LoginRequired(Exception):
    """Raised by a page's dependency for an anonymous visitor: answered with the log-in form, which returns to
    `next_path` afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def login_url(next_path: str | None = None) -> str:
    return f"/login?{urlencode({'next': next_path})}" if next_path and next_path != "/" else "/login"


async def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(login_url(exc.next_path), status_code=303)


def signed_in(request: Request, principal: Principal, *, after_post: str) -> User:
    """The visitor, or `LoginRequired`. After logging in, a GET comes back to the same page; a form post cannot
    be replayed, so it goes to `after_post`."""
    if principal.user is None:
        if request.method == "GET":
            query = request.url.query
            raise LoginRequired(request.url.path + (f"?{query}" if query else ""))
        raise LoginRequired(after_post)
    return principal.user


def login_required(scope: TokenScope, *, after_post: str) -> Callable[[Request, Principal], User]:
    """A page dependency for a signed-in visitor whose credentials allow `scope`; alias it once per domain:

    `CatalogReader = Annotated[User, Depends(login_required(TokenScope.ModelsRead, after_post="/my/models"))]`
    """

    def dependency(request: Request, principal: PrincipalDep) -> User:
        signed_in(request, principal, after_post=after_post)
        return policy.require_scope(principal, scope)

    return dependency


ADMIN_HOME = "/admin"


def page_moderator(request: Request, principal: PrincipalDep) -> User:
    signed_in(request, principal, after_post=ADMIN_HOME)
    return policy.require_moderator(principal)


def page_admin(request: Request, principal: PrincipalDep) -> User:
    signed_in(request, principal, after_post=ADMIN_HOME)
    return policy.require_admin(principal)


PageModerator = Annotated[User, Depends(page_moderator)]
PageAdmin = Annotated[User, Depends(page_admin)]


# --- reading forms --------------------------------------------------------------------------------------------


def validated(schema: type[T], data: dict[str, Any]) -> T:
    """A request schema built from form fields; pydantic's complaint becomes a form error naming the field."""
    try:
        return schema(**data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"][:1])
        raise ValidationFailed(f"{field.replace('_', ' ').capitalize()}: {error['msg']}", field=field) from exc


def whole_number(value: str, what: str, field: str, *, max_digits: int = 9) -> int | None:
    """A form field holding a whole number, or None when left empty. At most `max_digits` digits, so no value
    reaches a service (or an integer column) as an overflow."""
    value = value.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):  # isdigit alone takes "²", which int() refuses
        raise ValidationFailed(f"{what} must be a whole number", field=field)
    if len(value) > max_digits:
        raise ValidationFailed(f"{what} is too large", field=field)
    return int(value)


def install_page_toolkit(app: FastAPI) -> None:
    """What pages need from the app: the site's error page, and the log-in form for `LoginRequired`."""
    install_error_page(app)
    app.add_exception_handler(LoginRequired, _to_login)
