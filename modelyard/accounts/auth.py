"""Who is calling: a session cookie, an API key (`Authorization: Bearer <key>` or `?token=<key>`), or nobody.

Resolved once per request by `get_principal`; routes ask for what they need through the dependencies at the
bottom, which go through `modelyard.accounts.policy` for every decision.

A request that presents a key (`core.csrf.presented_api_key`, the same decision the CSRF guard makes) is that
key's alone: a key that authenticates nobody leaves the request anonymous, never the session cookie's. A
state-changing request is served as the cookie's only when the CSRF guard checked its token
(`core.csrf.check_session_use`). A key without the Full scope carries none of its user's staff powers
(`policy.withhold_staff_powers`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import update
from sqlalchemy.orm import Session

from modelyard.accounts import apikeys, policy, sessions
from modelyard.accounts.models import ApiKey, AuthSession, User
from modelyard.accounts.scopes import TokenScope
from modelyard.core import csrf
from modelyard.core.db import utcnow
from modelyard.core.http import SessionDep, runtime_of, set_cookie_later
from modelyard.core.ratelimit import limit_principal

BANNED = "This account is banned"


@dataclass(frozen=True)
class Principal:
    user: User | None = None
    auth_session: AuthSession | None = None
    api_key: ApiKey | None = None
    # Why presented credentials were refused (expired key, banned user…); None when nothing was presented.
    problem: str | None = None
    scopes: TokenScope = field(default_factory=lambda: TokenScope(0))

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None

    def allows(self, scope: TokenScope) -> bool:
        if self.user is None:
            return False
        return self.api_key is None or (self.scopes & scope) == scope


ANONYMOUS = Principal()


def presented_api_key(request: Request) -> str | None:
    """The key the request presents (`core.csrf.presented_api_key`: Civitai's rule, placeholders being no key)."""
    return csrf.presented_api_key(request.scope)


def presents_credentials(request: Request) -> bool:
    """Whether the request carries an API key or a session cookie: without either it is anonymous, and knowing
    so needs no database."""
    return presented_api_key(request) is not None or bool(request.cookies.get(sessions.SESSION_COOKIE))


def resolve_principal(request: Request, session: Session) -> Principal:
    token = presented_api_key(request)
    if token is not None:
        return _from_api_key(request, session, token)
    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    if cookie:
        csrf.check_session_use(request.scope)
        return _from_cookie(request, session, cookie)
    return ANONYMOUS


def _from_api_key(request: Request, session: Session, token: str) -> Principal:
    check = apikeys.authenticate(session, token)
    if check.record is None:
        return Principal(problem=check.problem)
    user = session.get(User, check.record.user_id)
    if user is None or user.is_banned:
        return Principal(problem=BANNED)
    now = utcnow()
    if apikeys.needs_touch(check.record, now):
        _bookkeep(request, session, ApiKey, check.record.id, {"last_used_at": now})
    scopes = TokenScope(check.record.scopes)
    if scopes & TokenScope.full() != TokenScope.full():
        policy.withhold_staff_powers(user)
    return Principal(user=user, api_key=check.record, scopes=scopes)


def _from_cookie(request: Request, session: Session, cookie: str) -> Principal:
    record = sessions.find_active(session, cookie)
    if record is None:
        return Principal(problem="Your session has ended; log in again")
    user = session.get(User, record.user_id)
    if user is None or user.is_banned:
        return Principal(problem=BANNED)
    if record.rotate_required and not session.info.get("writes"):
        # Rotated on a read: a write request that failed after swapping tokens would leave the browser holding
        # a token that was rolled back. The next page view rotates instead.
        record = _rotate_apart(request, record, user)
    elif sessions.needs_touch(record):
        _bookkeep(request, session, AuthSession, record.id, sessions.extend(record))
    return Principal(user=user, auth_session=record, scopes=TokenScope.full())


def _bookkeep(
    request: Request, session: Session, model: type[ApiKey] | type[AuthSession], row_id: int, values: dict[str, Any]
) -> None:
    """Last-used times. A writing request records them in its own transaction (on SQLite it holds the write lock,
    so a second writer would wait for it); a reading request writes apart, keeping its own transaction
    read-only."""
    statement = update(model).where(model.id == row_id).values(**values)
    if session.info.get("writes"):
        session.execute(statement)
        return
    with runtime_of(request).db.transaction() as writer:
        writer.execute(statement)


def _rotate_apart(request: Request, record: AuthSession, user: User) -> AuthSession:
    with runtime_of(request).db.transaction() as writer:
        fresh = writer.get(AuthSession, record.id)
        assert fresh is not None
        issued = sessions.rotate(writer, fresh, user)
        new_record = issued.record
    issue_session_cookie(request, issued.token)
    return new_record


def issue_session_cookie(request: Request, token: str) -> None:
    csrf.check_session_use(request.scope, to_set=True)  # no log-in forged from another site
    settings = runtime_of(request).settings
    set_cookie_later(
        request,
        sessions.SESSION_COOKIE,
        token,
        max_age=settings.session_lifetime_days * 86400,
        secure=settings.secure_cookies,
    )


def clear_session_cookie(request: Request) -> None:
    csrf.check_session_use(request.scope, to_set=True)
    set_cookie_later(
        request, sessions.SESSION_COOKIE, "", max_age=0, secure=runtime_of(request).settings.secure_cookies
    )


# --- dependencies ---------------------------------------------------------------------------------------------


def get_principal(request: Request, session: SessionDep) -> Principal:
    return principal_in(request, session)


def principal_in(request: Request, session: Session) -> Principal:
    """The caller, resolved once per request (with `session` when credentials need looking up) and charged
    against their own rate limits; `get_principal` as a plain function, for endpoints that run their work in
    one thread-pool hop of their own."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is None:
        cached = resolve_principal(request, session)
        request.state.principal = cached
        if cached.user is not None:
            limit_principal(
                runtime_of(request),
                user_id=cached.user.id,
                api_key_id=cached.api_key.id if cached.api_key else None,
            )
    return cached


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def current_user(principal: PrincipalDep) -> User:
    return policy.require_user(principal)


def optional_user(principal: PrincipalDep) -> User | None:
    return principal.user


def moderator_user(principal: PrincipalDep) -> User:
    return policy.require_moderator(principal)


def admin_user(principal: PrincipalDep) -> User:
    return policy.require_admin(principal)


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
ModeratorUser = Annotated[User, Depends(moderator_user)]
AdminUser = Annotated[User, Depends(admin_user)]


def requires(scope: TokenScope) -> Callable[[Principal], User]:
    """A dependency for a logged-in user whose credentials allow `scope`; alias it once per scope:

    `ModelsWriter = Annotated[User, Depends(requires(TokenScope.ModelsWrite))]`
    """

    def dependency(principal: PrincipalDep) -> User:
        return policy.require_scope(principal, scope)

    return dependency
