"""Pages for getting in: sign-up, log-in (password or a configured OAuth provider), log-out, e-mail confirmation
and password reset. Forms post back to their own page; success redirects (303) with a flash message, failure
shows the form again with the message and the input (never a password)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from modelyard.accounts import service, sessions
from modelyard.accounts.auth import PrincipalDep, clear_session_cookie
from modelyard.accounts.login import guarded_authenticate
from modelyard.accounts.pages.common import account_page, oauth_buttons
from modelyard.accounts.redirects import safe_next
from modelyard.accounts.routes import start_session
from modelyard.core.errors import AppError, ValidationFailed
from modelyard.core.http import SessionDep, runtime_of
from modelyard.web.toolkit import form_failed, see_other

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form()]
NextParam = Annotated[str | None, Query(max_length=2000)]
# Pages a log-in must not return to: each of them sends a logged-in visitor on to `next`, which would loop.
_NOT_AFTER_LOGIN = frozenset({"/login", "/signup", "/logout"})


def after_login(next_path: str | None, default: str = "/") -> str:
    target = safe_next(next_path, default)
    return default if urlsplit(target).path in _NOT_AFTER_LOGIN else target


def _failed(request: Request, session: Session, template: str, context: dict[str, Any], error: AppError) -> Response:
    return form_failed(request, session, template, context, error, render_page=account_page)


# --- sign-up --------------------------------------------------------------------------------------------------


def _signup_context(request: Request, next_path: str, values: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "values": values or {},
        "next": next_path,
        "signup_open": runtime_of(request).settings.signup_enabled,
        "providers": oauth_buttons(request, next_path),
    }


@router.get("/signup", response_class=HTMLResponse)
def signup_page(request: Request, principal: PrincipalDep, next: NextParam = None) -> Response:
    if principal.user is not None:
        return see_other(after_login(next, "/account"))
    return account_page(request, "accounts/signup.html", _signup_context(request, after_login(next, "")))


@router.post("/signup", response_class=HTMLResponse)
def sign_up(
    request: Request, session: SessionDep, username: Text = "", email: Text = "", password: Text = "", next: Text = ""
) -> Response:
    next_path = after_login(next, "")
    context = _signup_context(request, next_path, {"username": username, "email": email})
    try:
        user = service.sign_up(session, username=username.strip(), email=email, password=password)
    except AppError as exc:
        return _failed(request, session, "accounts/signup.html", context, exc)
    start_session(request, session, user)
    return see_other(next_path) if next_path else see_other("/account", done="welcome")


# --- log-in and log-out ---------------------------------------------------------------------------------------


def _login_context(request: Request, next_path: str, login: str = "") -> dict[str, Any]:
    return {
        "login": login,
        "next": next_path,
        "signup_open": runtime_of(request).settings.signup_enabled,
        "providers": oauth_buttons(request, next_path),
    }


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, principal: PrincipalDep, next: NextParam = None) -> Response:
    if principal.user is not None:
        return see_other(after_login(next))
    return account_page(request, "accounts/login.html", _login_context(request, after_login(next, "")))


@router.post("/login", response_class=HTMLResponse)
def log_in(request: Request, session: SessionDep, login: Text = "", password: Text = "", next: Text = "") -> Response:
    next_path = after_login(next, "")
    try:
        user = guarded_authenticate(request, session, login=login, password=password)
    except AppError as exc:
        return _failed(request, session, "accounts/login.html", _login_context(request, next_path, login), exc)
    start_session(request, session, user)
    return see_other(next_path or "/")


@router.post("/logout")
def log_out(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    record = principal.auth_session
    if principal.user is not None and record is not None and record.revoked_at is None:
        sessions.revoke(session, principal.user, record.id)
    clear_session_cookie(request)
    return see_other("/login", done="logged-out")


# --- e-mail confirmation --------------------------------------------------------------------------------------


@router.get("/verify-email", response_class=HTMLResponse)
def verify_email_page(request: Request, token: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Only shows a button: link scanners and mail previews open links, and must not use the token up."""
    if not token and request.query_params.get("done") != "email-verified":
        return account_page(request, "accounts/verify_email.html", {"token": ""}, status_code=400)
    return account_page(request, "accounts/verify_email.html", {"token": token})


@router.post("/verify-email", response_class=HTMLResponse)
def verify_email(request: Request, session: SessionDep, token: Text = "") -> Response:
    try:
        service.verify_email(session, token)
    except AppError as exc:
        return _failed(request, session, "accounts/verify_email.html", {"token": token}, exc)
    return see_other("/verify-email", done="email-verified")


# --- password reset -------------------------------------------------------------------------------------------


@router.get("/reset-password", response_class=HTMLResponse)
def reset_request_page(request: Request) -> Response:
    return account_page(request, "accounts/reset_request.html", {"email": ""})


@router.post("/reset-password", response_class=HTMLResponse)
def request_reset(session: SessionDep, email: Text = "") -> Response:
    # The same answer whether or not an account uses the address: the page must not reveal who has one.
    service.request_password_reset(session, email=email)
    return see_other("/reset-password", done="reset-sent")


@router.get("/reset-password/confirm", response_class=HTMLResponse)
def reset_confirm_page(request: Request, token: Annotated[str, Query(max_length=200)] = "") -> Response:
    return account_page(request, "accounts/reset_confirm.html", {"token": token}, status_code=200 if token else 400)


@router.post("/reset-password/confirm", response_class=HTMLResponse)
def confirm_reset(
    request: Request, session: SessionDep, token: Text = "", password: Text = "", password_again: Text = ""
) -> Response:
    try:
        if password != password_again:
            raise ValidationFailed("The two passwords are not the same", field="password_again")
        service.reset_password(session, token=token, password=password)
    except AppError as exc:
        return _failed(request, session, "accounts/reset_confirm.html", {"token": token}, exc)
    # Every session of the account has ended, this browser's included.
    clear_session_cookie(request)
    return see_other("/login", done="password-reset")
