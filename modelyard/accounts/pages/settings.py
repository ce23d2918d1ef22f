"""Account settings pages: profile, password, sessions, API keys and linked sign-ins. Every change goes through
the accounts services in the request's transaction."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from modelyard.accounts import apikeys, avatars, linking, service, sessions
from modelyard.accounts.auth import Principal, PrincipalDep, clear_session_cookie
from modelyard.accounts.models import User
from modelyard.accounts.pages.common import AccountReader, AccountWriter, account_page, oauth_buttons
from modelyard.accounts.schemas import ApiKeyInfo
from modelyard.accounts.scopes import TokenScope
from modelyard.core.errors import AppError, ValidationFailed
from modelyard.core.http import SessionDep
from modelyard.core.inbound import READS_UPLOAD
from modelyard.core.params import Id
from modelyard.web.offers import offered
from modelyard.web.toolkit import form_failed, see_other, whole_number

router = APIRouter(prefix="/account", include_in_schema=False)

Text = Annotated[str, Form()]
TextList = Annotated[list[str], Form()]
EXTRA_LINK_ROWS = 2
TABS = [
    ("profile", "Profile", "/account"),
    ("password", "Password", "/account/password"),
    ("sessions", "Sessions", "/account/sessions"),
    ("api-keys", "API keys", "/account/api-keys"),
    ("linked", "Linked sign-ins", "/account/linked"),
    ("content", "Content", "/account/content"),  # accounts.pages.content
]


def _template(tab: str) -> str:
    return f"accounts/settings_{tab.replace('-', '_')}.html"


def _settings_page(
    request: Request,
    user: User,
    tab: str,
    context: dict[str, Any] | None = None,
    *,
    template: str | None = None,
    **options: Any,
) -> HTMLResponse:
    base = {"user": user, "tab": tab, "tabs": TABS}
    return account_page(request, template or _template(tab), {**base, **(context or {})}, **options)


def _settings_failed(
    request: Request, session: Session, user: User, tab: str, context: dict[str, Any], error: AppError
) -> HTMLResponse:
    base = {"user": user, "tab": tab, "tabs": TABS}
    return form_failed(request, session, _template(tab), {**base, **context}, error, render_page=account_page)


# --- profile --------------------------------------------------------------------------------------------------


def _link_rows(links: list[dict[str, str]]) -> list[dict[str, str]]:
    return [*links, *({"label": "", "url": ""} for _ in range(EXTRA_LINK_ROWS))][: service.MAX_LINKS]


@router.get("", response_class=HTMLResponse)
def profile_page(request: Request, user: AccountReader) -> Response:
    return _settings_page(request, user, "profile", _profile_context(user))


def _profile_context(user: User) -> dict[str, Any]:
    values = {"display_name": user.display_name or "", "bio": user.bio or ""}
    return {"values": values, "links": _link_rows(user.links or [])}


@router.post("/avatar", dependencies=[READS_UPLOAD])
async def upload_avatar(request: Request, user: AccountWriter, session: SessionDep) -> Response:
    """Multipart form; its CSRF token travels in the action URL (multipart bodies are not buffered for it)."""
    form = await request.form(max_files=1, max_fields=2, max_part_size=avatars.MAX_UPLOAD_BYTES + 1)
    upload = form.get("avatar")
    data = await upload.read(avatars.MAX_UPLOAD_BYTES + 1) if isinstance(upload, UploadFile) else b""
    try:
        if not data:
            raise ValidationFailed("Choose an image file first")
        await run_in_threadpool(avatars.set_avatar, session, user, data)
    except AppError as error:
        return await run_in_threadpool(
            _settings_failed, request, session, user, "profile", _profile_context(user), error
        )
    return see_other("/account", done="avatar-saved")


@router.post("", response_class=HTMLResponse)
def update_profile(
    request: Request,
    user: AccountWriter,
    session: SessionDep,
    display_name: Text = "",
    bio: Text = "",
    link_label: TextList = [],  # noqa: B006 - FastAPI copies defaults per request
    link_url: TextList = [],  # noqa: B006
) -> Response:
    rows = [{"label": label, "url": url} for label, url in zip(link_label, link_url, strict=False)]
    links = [row for row in rows if row["url"].strip()]
    try:
        service.update_profile(session, user, display_name=display_name, bio=bio, links=links)
    except AppError as exc:
        context = {"values": {"display_name": display_name, "bio": bio}, "links": _link_rows(links)}
        return _settings_failed(request, session, user, "profile", context, exc)
    return see_other("/account", done="profile-saved")


@router.post("/verify-email/resend")
def resend_verification(user: AccountWriter, session: SessionDep) -> Response:
    if user.email_verified_at is not None:
        return see_other("/account", done="email-verified")
    service.send_verification(session, user)
    return see_other("/account", done="verification-sent")


# --- password -------------------------------------------------------------------------------------------------


def _current_session_id(principal: Principal) -> int | None:
    return principal.auth_session.id if principal.auth_session else None


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request, user: AccountReader) -> Response:
    return _settings_page(request, user, "password")


@router.post("/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    user: AccountWriter,
    principal: PrincipalDep,
    session: SessionDep,
    current_password: Text = "",
    new_password: Text = "",
    new_password_again: Text = "",
) -> Response:
    try:
        if new_password != new_password_again:
            raise ValidationFailed("The two new passwords are not the same", field="new_password_again")
        service.change_password(
            session,
            user,
            current=current_password if user.password_hash is not None else None,
            new=new_password,
            keep_session_id=_current_session_id(principal),
        )
    except AppError as exc:
        return _settings_failed(request, session, user, "password", {}, exc)
    return see_other("/account/password", done="password-changed")


# --- sessions -------------------------------------------------------------------------------------------------

_BROWSERS = [("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")]
_SYSTEMS = [("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Windows", "Windows")]
_SYSTEMS += [("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux")]


def describe_agent(user_agent: str | None) -> str:
    """`Firefox on Linux`: enough to tell one's own devices apart; the full string is in the title."""
    if not user_agent:
        return "Unknown device"
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser is None:
        return re.split(r"[/\s]", user_agent, maxsplit=1)[0][:40] or "Unknown device"
    return f"{browser} on {system}" if system else browser


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, user: AccountReader, principal: PrincipalDep, session: SessionDep) -> Response:
    current_id = _current_session_id(principal)
    rows = [
        {"record": record, "device": describe_agent(record.user_agent), "current": record.id == current_id}
        for record in sessions.list_sessions(session, user)
    ]
    return _settings_page(request, user, "sessions", {"sessions": rows})


@router.post("/sessions/revoke-others")
def revoke_other_sessions(user: AccountWriter, principal: PrincipalDep, session: SessionDep) -> Response:
    sessions.revoke_all(session, user, except_id=_current_session_id(principal))
    return see_other("/account/sessions", done="sessions-revoked")


@router.post("/sessions/{session_id}/revoke")
def revoke_session(
    request: Request, session_id: Id, user: AccountWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    sessions.revoke(session, user, session_id)
    if session_id == _current_session_id(principal):
        clear_session_cookie(request)
        return see_other("/login", done="logged-out")
    return see_other("/account/sessions", done="session-revoked")


# --- linked sign-ins ------------------------------------------------------------------------------------------


def _linked_context(request: Request, session: Session, user: User) -> dict[str, Any]:
    accounts = linking.linked_accounts(session, user)
    linked = {account.provider for account in accounts}
    providers = oauth_buttons(request, "/account/linked")
    return {
        "accounts": accounts,
        "labels": {provider["name"]: provider["label"] for provider in providers},
        "providers": [provider for provider in providers if provider["name"] not in linked],
    }


@router.get("/linked", response_class=HTMLResponse)
def linked_page(request: Request, user: AccountReader, session: SessionDep) -> Response:
    return _settings_page(request, user, "linked", _linked_context(request, session, user))


@router.post("/linked/{link_id}/unlink")
def unlink_sign_in(request: Request, link_id: Id, user: AccountWriter, session: SessionDep) -> Response:
    try:
        linking.unlink(session, user, link_id)
    except AppError as error:
        return _settings_failed(request, session, user, "linked", _linked_context(request, session, user), error)
    return see_other("/account/linked", done="unlinked")


# --- API keys -------------------------------------------------------------------------------------------------

# Civitai's scopes, grouped by what they give access to, with what each allows in plain words.
# The permission groups of the API-key form, each with the capability (`web.offers`) it belongs to: the form
# offers a group once this server offers its capability. Keys may still carry any of Civitai's scopes (a "Full" key
# carries them all), so clients that ask for one keep working.
SCOPE_GROUPS: list[tuple[str, str | None, list[tuple[TokenScope, str]]]] = [
    ("Account", None, [(TokenScope.UserRead, "Read profile"), (TokenScope.UserWrite, "Change profile and settings")]),
    ("Models", "models", [(TokenScope.ModelsRead, "Read"), (TokenScope.ModelsWrite, "Publish and edit")]),
    ("Images and posts", "images", [(TokenScope.MediaRead, "Read"), (TokenScope.MediaWrite, "Post and edit")]),
    ("Articles", "articles", [(TokenScope.ArticlesRead, "Read"), (TokenScope.ArticlesWrite, "Write and edit")]),
    ("Bounties", "bounties", [(TokenScope.BountiesRead, "Read"), (TokenScope.BountiesWrite, "Create and enter")]),
    (
        "Generation and training",
        "generation",
        [(TokenScope.AIServicesRead, "See jobs"), (TokenScope.AIServicesWrite, "Start jobs")],
    ),
    ("Buzz", "buzz", [(TokenScope.BuzzRead, "See balance and transactions")]),
    (
        "Collections",
        "collections",
        [(TokenScope.CollectionsRead, "Read"), (TokenScope.CollectionsWrite, "Create and edit")],
    ),
    (
        "Social",
        "community",
        [(TokenScope.SocialWrite, "Comment, react and follow"), (TokenScope.SocialTip, "Tip Buzz")],
    ),
    (
        "Notifications",
        "notifications",
        [(TokenScope.NotificationsRead, "Read"), (TokenScope.NotificationsWrite, "Mark as read")],
    ),
    ("Vault", "vault", [(TokenScope.VaultRead, "Read"), (TokenScope.VaultWrite, "Add and remove")]),
]
DELETE_SCOPES: list[tuple[str, TokenScope, str]] = [
    ("models", TokenScope.ModelsDelete, "Models"),
    ("images", TokenScope.MediaDelete, "Images and posts"),
    ("articles", TokenScope.ArticlesDelete, "Articles"),
    ("bounties", TokenScope.BountiesDelete, "Bounties"),
]


def offered_scope_groups() -> list[tuple[str, list[tuple[TokenScope, str]]]]:
    """The permission groups of what this server offers, and the deletions among them."""
    groups = [(name, scopes) for name, needs, scopes in SCOPE_GROUPS if needs is None or offered(needs)]
    deleting = [(scope, label) for needs, scope, label in DELETE_SCOPES if offered(needs)]
    return groups + ([("Deleting", deleting)] if deleting else [])


EXPIRY_CHOICES = [("", "Never"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]
BUZZ_PERIODS = ["day", "week", "month", "lifetime"]


def _keys_context(user: User, session: Session, form: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "keys": [ApiKeyInfo.of(record) for record in apikeys.list_keys(session, user)],
        "scope_groups": offered_scope_groups(),
        "expiry_choices": EXPIRY_CHOICES,
        "buzz_periods": BUZZ_PERIODS,
        "form": form or {"name": "", "access": "full", "scopes": [], "expires": "90", "buzz": "", "period": "day"},
    }


@router.get("/api-keys", response_class=HTMLResponse)
def api_keys_page(request: Request, user: AccountReader, session: SessionDep) -> Response:
    return _settings_page(request, user, "api-keys", _keys_context(user, session))


def _requested_scopes(access: str, names: list[str], principal: Principal) -> TokenScope:
    if access == "full":
        scopes = TokenScope.full()
    elif not names:
        raise ValidationFailed("Pick at least one permission, or give the key full access", field="scopes")
    else:
        try:
            scopes = TokenScope.parse(names)
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="scopes") from exc
    if principal.api_key is not None and (scopes & ~principal.scopes):
        raise ValidationFailed("An API key cannot create a key with scopes it does not have itself", field="scopes")
    return scopes


@router.post("/api-keys", response_class=HTMLResponse)
def create_api_key(
    request: Request,
    user: AccountWriter,
    principal: PrincipalDep,
    session: SessionDep,
    name: Text = "",
    access: Text = "full",
    scopes: TextList = [],  # noqa: B006 - FastAPI copies defaults per request
    expires: Text = "",
    buzz: Text = "",
    period: Text = "day",
) -> Response:
    form = {"name": name, "access": access, "scopes": scopes, "expires": expires, "buzz": buzz, "period": period}
    try:
        chosen = _requested_scopes(access, scopes, principal)
        limit = whole_number(buzz, "The Buzz limit", "buzz")
        created = apikeys.create_key(
            session,
            user,
            name=name,
            scopes=chosen,
            expires_in_days=whole_number(expires, "The expiry", "expires"),
            buzz_limit={"limit": limit, "period": period} if limit is not None else None,
        )
    except AppError as exc:
        return _settings_failed(request, session, user, "api-keys", _keys_context(user, session, form), exc)
    # Shown on this response only, never stored: so no redirect, and nothing may cache the page.
    return _settings_page(
        request,
        user,
        "api-keys",
        {"key": created.key, "info": ApiKeyInfo.of(created.record)},
        template="accounts/settings_api_key_created.html",
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


@router.post("/api-keys/{key_id}/revoke")
def revoke_api_key(key_id: Id, user: AccountWriter, session: SessionDep) -> Response:
    apikeys.revoke_key(session, user, key_id)
    return see_other("/account/api-keys", done="key-revoked")
