"""What the account and administration pages share: flash messages, who may see a page (anonymous visitors are
sent to the log-in form), re-rendering a form after a failed service call, and the header's account menu."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from modelyard.accounts import policy, sessions
from modelyard.accounts.auth import Principal, PrincipalDep
from modelyard.accounts.models import Role, User
from modelyard.accounts.scopes import TokenScope
from modelyard.core.errors import AppError
from modelyard.core.http import runtime_of
from modelyard.web.templating import render, templates

log = logging.getLogger(__name__)

# Flash messages are looked up by key (`?done=<key>`): nothing from the URL is ever shown, so a crafted link
# cannot put words in the site's mouth.
FLASH = {
    "welcome": "Welcome aboard! We sent you a link to confirm your e-mail address.",
    "logged-out": "You have logged out.",
    "email-verified": "Your e-mail address is confirmed. Thank you!",
    "verification-sent": "We sent you a new confirmation link. Check your inbox.",
    "reset-sent": "If an account uses this address, a link to reset its password is on its way.",
    "password-reset": "Your new password is set and every session has been logged out. Log in with it now.",
    "profile-saved": "Your profile is saved.",
    "password-changed": "Your password is changed. Every other session has been logged out.",
    "session-revoked": "That session is logged out.",
    "unlinked": "That sign-in is no longer linked to your account.",
    "avatar-saved": "Your profile picture is saved.",
    "sessions-revoked": "Every other session is logged out.",
    "key-revoked": "The API key is revoked; it stops working at once.",
    "role-changed": "The role is changed. The user's sessions pick it up on their next request.",
    "muted": "The user is muted.",
    "unmuted": "The user can post again.",
    "banned": "The user is banned and logged out everywhere.",
    "unbanned": "The ban is lifted.",
    "requeued": "The job is queued again with a fresh set of attempts.",
}


def flash_message(request: Request) -> str | None:
    return FLASH.get(request.query_params.get("done", ""))


def see_other(path: str, *, done: str | None = None) -> RedirectResponse:
    """Post/Redirect/Get: the answer to a successful form."""
    assert done is None or done in FLASH, done
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}done={done}" if done else path, status_code=303)


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    base = {
        "flash": flash_message(request),
        "error": None,
        "error_field": None,
        "min_password_length": runtime_of(request).settings.min_password_length,
    }
    return render(request, template, {**base, **(context or {})}, status_code=status_code, headers=headers)


def form_failed(
    request: Request, session: Session, template: str, context: dict[str, Any], error: AppError
) -> HTMLResponse:
    """The form again, with what went wrong. The transaction is rolled back first: a service may have written
    something before it refused (a reset link marked used before the new password was found too weak)."""
    session.rollback()
    context = {**context, "error": error.detail, "error_field": error.extra.get("field")}
    return page(request, template, context, status_code=error.status_code, headers=error.headers or None)


# --- who may see a page ---------------------------------------------------------------------------------------


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def login_url(next_path: str | None = None) -> str:
    return f"/login?{urlencode({'next': next_path})}" if next_path and next_path != "/" else "/login"


async def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(login_url(exc.next_path), status_code=303)


def _back_here(request: Request) -> str:
    # After logging in, a GET comes back to the same page; a form post cannot be replayed, so its page is used.
    if request.method == "GET":
        query = request.url.query
        return request.url.path + (f"?{query}" if query else "")
    return "/admin" if request.url.path.startswith("/admin") else "/account"


def _signed_in(request: Request, principal: Principal) -> User:
    if principal.user is None:
        raise LoginRequired(_back_here(request))
    return principal.user


def account_reader(request: Request, principal: PrincipalDep) -> User:
    _signed_in(request, principal)
    return policy.require_scope(principal, TokenScope.UserRead)


def account_writer(request: Request, principal: PrincipalDep) -> User:
    _signed_in(request, principal)
    return policy.require_scope(principal, TokenScope.UserWrite)


def page_moderator(request: Request, principal: PrincipalDep) -> User:
    _signed_in(request, principal)
    return policy.require_moderator(principal)


def page_admin(request: Request, principal: PrincipalDep) -> User:
    _signed_in(request, principal)
    return policy.require_admin(principal)


AccountReader = Annotated[User, Depends(account_reader)]
AccountWriter = Annotated[User, Depends(account_writer)]
PageModerator = Annotated[User, Depends(page_moderator)]
PageAdmin = Annotated[User, Depends(page_admin)]


# --- the header's account menu --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeaderAccount:
    username: str
    display_name: str | None
    is_moderator: bool
    is_admin: bool

    @property
    def initial(self) -> str:
        return (self.display_name or self.username)[:1].upper()

    @classmethod
    def of(cls, user: User) -> HeaderAccount:
        return cls(
            username=user.username,
            display_name=user.display_name,
            is_moderator=policy.has_role(user, Role.moderator),
            is_admin=policy.has_role(user, Role.admin),
        )


_UNSET = object()


def header_account(request: Request) -> HeaderAccount | None:
    """Who the header shows as logged in. Pages that resolved the caller already cost nothing more; others (the
    home page, error pages) look the session cookie up read-only: no touching, no rotation, so a page that
    holds the write lock never waits on this."""
    found = getattr(request.state, "header_account", _UNSET)
    if found is _UNSET:
        found = request.state.header_account = _lookup_header_account(request)
    assert found is None or isinstance(found, HeaderAccount)
    return found


def _lookup_header_account(request: Request) -> HeaderAccount | None:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None:
        return HeaderAccount.of(principal.user) if principal.user is not None else None
    token = request.cookies.get(sessions.SESSION_COOKIE)
    if not token:
        return None
    try:
        with runtime_of(request).db.session() as session:
            record = sessions.find_active(session, token)
            user = session.get(User, record.user_id) if record is not None else None
            return HeaderAccount.of(user) if user is not None and not user.is_banned else None
    except DBAPIError:
        # The header must not take a page down with it (the status page renders while the database is out).
        log.warning("could not look up the logged-in user for the header", exc_info=True)
        return None


# --- template helpers -----------------------------------------------------------------------------------------


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """`3 minutes ago`, `in 2 days`: coarse on purpose, the exact time is in the title."""
    if moment is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        return "just now"
    for unit, size in (("year", 31_536_000), ("month", 2_592_000), ("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"


_URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Plain text with its http(s) links clickable; everything else escaped (Markup.format escapes the URL)."""
    pieces: list[Markup] = []
    last = 0
    for match in _URL.finditer(text):
        pieces.append(escape(text[last : match.start()]))
        pieces.append(Markup('<a href="{0}" rel="noopener noreferrer">{0}</a>').format(match.group(0)))
        last = match.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)


def install_template_helpers(app: FastAPI) -> None:
    templates.env.globals["header_account"] = header_account
    templates.env.filters["when"] = when
    templates.env.filters["ago"] = ago
    templates.env.filters["linkify"] = linkify
    templates.env.filters["urlquote"] = lambda value: quote(str(value), safe="")
    app.add_exception_handler(LoginRequired, _to_login)
