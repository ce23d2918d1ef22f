"""JSON API for signing up and in, the caller's account, sessions and API keys, and public profiles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from modelyard.accounts import apikeys, auth, avatars, linking, service, sessions
from modelyard.accounts.auth import PrincipalDep, requires
from modelyard.accounts.models import User
from modelyard.accounts.schemas import (
    Account,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyInfo,
    LinkedSignIn,
    LogIn,
    PasswordChange,
    ProfileUpdate,
    PublicUser,
    ResetConfirm,
    ResetRequest,
    SessionInfo,
    SignUp,
    TokenIn,
)
from modelyard.accounts.scopes import TokenScope
from modelyard.core.db import utcnow
from modelyard.core.errors import NotFound, PayloadTooLarge, ValidationFailed
from modelyard.core.hot import HotReads
from modelyard.core.http import DbDep, SessionDep, model_response
from modelyard.core.inbound import READS_UPLOAD
from modelyard.core.params import Id

router = APIRouter(tags=["accounts"])
hot_reads = HotReads(router)
UserRead = Annotated[User, Depends(requires(TokenScope.UserRead))]
UserWrite = Annotated[User, Depends(requires(TokenScope.UserWrite))]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def start_session(request: Request, session: SessionDep, user: User) -> None:
    """Log `user` in on this browser: always a brand-new token (no session fixation), the old one revoked."""
    old = sessions.find_active(session, request.cookies.get(sessions.SESSION_COOKIE, ""))
    if old is not None:
        old.revoked_at = old.revoked_at or utcnow()
    issued = sessions.create_session(session, user, ip=client_ip(request), user_agent=request.headers.get("user-agent"))
    auth.issue_session_cookie(request, issued.token)


@hot_reads.get("/api/users/{username}", response_model=PublicUser, responses={404: {"description": "No such user"}})
async def get_user(username: str, db: DbDep) -> Response:
    """A user's public profile. Usernames match case-insensitively."""
    profile = await db.read(lambda connection: service.public_profile(connection, username))
    return model_response(PublicUser.model_validate(profile))


# --- signing up and in ----------------------------------------------------------------------------------------


@router.post("/api/auth/signup", status_code=status.HTTP_201_CREATED, response_model=Account)
def sign_up(body: SignUp, request: Request, session: SessionDep) -> Account:
    """Create an account and log in. A link to confirm the e-mail address is sent."""
    user = service.sign_up(session, username=body.username, email=body.email, password=body.password)
    start_session(request, session, user)
    return Account.of(user)


@router.post("/api/auth/login", response_model=Account)
def log_in(body: LogIn, request: Request, session: SessionDep) -> Account:
    """Log in with a username or e-mail address and password; sets the session cookie."""
    from modelyard.accounts.login import guarded_authenticate

    user = guarded_authenticate(request, session, login=body.login, password=body.password)
    start_session(request, session, user)
    return Account.of(user)


@router.post("/api/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def log_out(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """End this browser's session."""
    if principal.auth_session is not None and principal.auth_session.revoked_at is None:
        principal.auth_session.revoked_at = utcnow()
    auth.clear_session_cookie(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/auth/verify-email", response_model=Account)
def verify_email(body: TokenIn, session: SessionDep) -> Account:
    """Confirm an e-mail address with the token from the link we sent."""
    return Account.of(service.verify_email(session, body.token))


@router.post("/api/auth/resend-verification", status_code=status.HTTP_202_ACCEPTED)
def resend_verification(user: UserWrite, session: SessionDep) -> dict[str, str]:
    """Send the confirmation link again."""
    if user.email_verified_at is not None:
        raise ValidationFailed("Your e-mail address is confirmed already")
    service.send_verification(session, user)
    return {"detail": f"We sent a new link to {user.email}"}


@router.post("/api/auth/password-reset", status_code=status.HTTP_202_ACCEPTED)
def request_password_reset(body: ResetRequest, session: SessionDep) -> dict[str, str]:
    """Send a password-reset link, if an account uses this address (the answer is the same either way)."""
    service.request_password_reset(session, email=body.email)
    return {"detail": "If an account uses this address, a link to reset its password is on its way"}


@router.post("/api/auth/password-reset/confirm", response_model=Account)
def confirm_password_reset(body: ResetConfirm, session: SessionDep) -> Account:
    """Set a new password with the token from the reset link. Every existing log-in ends."""
    return Account.of(service.reset_password(session, token=body.token, password=body.password))


# --- the caller's account -------------------------------------------------------------------------------------


@router.get("/api/account", response_model=Account)
def get_account(user: UserRead) -> Account:
    """The account making the request."""
    return Account.of(user)


@router.patch("/api/account", response_model=Account)
def update_account(body: ProfileUpdate, user: UserWrite, session: SessionDep) -> Account:
    """Change the profile: display name, bio, links."""
    service.update_profile(session, user, display_name=body.display_name, bio=body.bio, links=body.links)
    return Account.of(user)


@router.post("/api/account/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(body: PasswordChange, user: UserWrite, principal: PrincipalDep, session: SessionDep) -> None:
    """Change the password; every other session ends."""
    current_id = principal.auth_session.id if principal.auth_session else None
    service.change_password(
        session, user, current=body.current_password, new=body.new_password, keep_session_id=current_id
    )


@router.get("/api/account/sessions", response_model=list[SessionInfo])
def list_sessions(user: UserRead, principal: PrincipalDep, session: SessionDep) -> list[SessionInfo]:
    """Where this account is logged in."""
    current_id = principal.auth_session.id if principal.auth_session else None
    return [SessionInfo.of(record, current_id) for record in sessions.list_sessions(session, user)]


@router.delete("/api/account/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_session(session_id: Id, user: UserWrite, session: SessionDep) -> None:
    """Log one session out."""
    sessions.revoke(session, user, session_id)


@router.post("/api/account/sessions/revoke-others")
def revoke_other_sessions(user: UserWrite, principal: PrincipalDep, session: SessionDep) -> dict[str, int]:
    """Log out everywhere but here."""
    current_id = principal.auth_session.id if principal.auth_session else None
    return {"revoked": sessions.revoke_all(session, user, except_id=current_id)}


@router.get("/api/account/api-keys", response_model=list[ApiKeyInfo])
def list_api_keys(user: UserRead, session: SessionDep) -> list[ApiKeyInfo]:
    """The account's API keys (never the keys themselves)."""
    return [ApiKeyInfo.of(record) for record in apikeys.list_keys(session, user)]


@router.post("/api/account/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
def create_api_key(body: ApiKeyCreate, user: UserWrite, principal: PrincipalDep, session: SessionDep) -> ApiKeyCreated:
    """Create an API key. The key is in this response only. A key cannot grant more than the key creating it."""
    scopes = parse_scopes(body.scopes)
    if principal.api_key is not None and (scopes & ~principal.scopes):
        raise ValidationFailed("An API key cannot create a key with scopes it does not have itself")
    created = apikeys.create_key(
        session, user, name=body.name, scopes=scopes, expires_in_days=body.expires_in_days, buzz_limit=body.buzz_limit
    )
    return ApiKeyCreated(**ApiKeyInfo.of(created.record).model_dump(), key=created.key)


def parse_scopes(value: list[str] | int | None) -> TokenScope:
    if value is None or value == []:
        return TokenScope.full()
    try:
        if isinstance(value, int):
            return TokenScope.parse(str(value))
        return TokenScope.parse(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="scopes") from exc


@router.delete("/api/account/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(key_id: Id, user: UserWrite, session: SessionDep) -> None:
    """Revoke an API key; it stops working at once."""
    apikeys.revoke_key(session, user, key_id)


@router.get("/api/account/linked", response_model=list[LinkedSignIn])
def list_linked(user: UserRead, session: SessionDep) -> list[LinkedSignIn]:
    """Sign-ins through OAuth/OIDC providers linked to this account."""
    return [LinkedSignIn.model_validate(link) for link in linking.linked_accounts(session, user)]


@router.delete("/api/account/linked/{link_id}", status_code=status.HTTP_204_NO_CONTENT)
def unlink_sign_in(link_id: Id, user: UserWrite, session: SessionDep) -> None:
    """Unlink a provider sign-in (refused if it is the account's only way to log in)."""
    linking.unlink(session, user, link_id)


@router.put("/api/account/avatar", response_model=Account, dependencies=[READS_UPLOAD])
async def upload_avatar(request: Request, user: UserWrite, session: SessionDep) -> Account:
    """Set the profile picture: the request body is the image (PNG, JPEG, WebP or GIF, up to 8 MB)."""
    data = await _read_limited(request, avatars.MAX_UPLOAD_BYTES)
    await run_in_threadpool(avatars.set_avatar, session, user, data)
    return Account.of(user)


async def _read_limited(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"At most {limit // (1024 * 1024)} MB")
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/api/users/{username}/avatar", responses={404: {"description": "No such user or no picture"}})
def get_avatar(username: str, session: SessionDep) -> RedirectResponse:
    """A user's profile picture: a redirect to a short-lived URL of the image."""
    url = avatars.avatar_url(service.get_by_username(session, username).avatar_key)
    if url is None:
        raise NotFound(f"{username} has no profile picture")
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "private, max-age=300"})
