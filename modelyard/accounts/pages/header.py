"""The header's account menu: who it shows as logged in, on every page of the site, error pages included."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from modelyard.accounts import policy, sessions
from modelyard.accounts.auth import Principal
from modelyard.accounts.models import Role, User
from modelyard.core.http import runtime_of
from modelyard.web.templating import templates

log = logging.getLogger(__name__)


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
_SHOWN = frozenset({"username", "display_name", "role", "banned_at"})


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
        return _resolved(request, principal.user) if principal.user is not None else None
    token = request.cookies.get(sessions.SESSION_COOKIE)
    if not token:
        return None
    return _read(request, lambda session: _user_of_session(session, token))


def _resolved(request: Request, user: User) -> HeaderAccount | None:
    """The caller the request resolved. An error page renders after the request's session has ended: its
    rollback expired the user and its close detached them, so what the header shows is read again, in a session
    of its own (reading the detached user raised DetachedInstanceError, and the page fell back to an unstyled
    one)."""
    state = inspect(user)
    if state.session is not None or state.dict.keys() >= _SHOWN:
        return HeaderAccount.of(user)
    user_id = state.identity[0] if state.identity else None
    withheld = policy.staff_powers_withheld(user)  # an API key without the Full scope: still no staff menu

    def again(session: Session) -> User | None:
        fresh = session.get(User, user_id) if user_id is not None else None
        if fresh is not None and withheld:
            policy.withhold_staff_powers(fresh)
        return fresh

    return _read(request, again)


def _user_of_session(session: Session, token: str) -> User | None:
    record = sessions.find_active(session, token)
    return session.get(User, record.user_id) if record is not None else None


def _read(request: Request, find: Callable[[Session], User | None]) -> HeaderAccount | None:
    try:
        with runtime_of(request).db.session() as session:
            user = find(session)
            return HeaderAccount.of(user) if user is not None and not user.is_banned else None
    except DBAPIError:
        # The header must not take a page down with it (the status page renders while the database is out).
        log.warning("could not look up the logged-in user for the header", exc_info=True)
        return None


def install_header_account() -> None:
    templates.env.globals["header_account"] = header_account
