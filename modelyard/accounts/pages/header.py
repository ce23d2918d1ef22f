"""The header's account menu: who it shows as logged in, on every page of the site, error pages included."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from modelyard.accounts import browsing, policy, sessions
from modelyard.accounts.auth import Principal
from modelyard.accounts.models import Role, User
from modelyard.core.http import runtime_of
from modelyard.web.templating import templates

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MenuItem:
    label: str
    path: str
    icon: str  # a name of `accounts/_icons.html`


# A domain above accounts adds its items to the account menu, each shown to the users its provider gives it to
# (the rating game, to those who may play): `add_account_menu_item(provider)` from the domain's mount function.
MenuProvider = Callable[[Session, User], MenuItem | None]
_MENU_PROVIDERS: list[MenuProvider] = []


def add_account_menu_item(provider: MenuProvider) -> None:
    if provider not in _MENU_PROVIDERS:
        _MENU_PROVIDERS.append(provider)


def _menu_items(user: User) -> tuple[MenuItem, ...]:
    session = inspect(user).session  # none on an error page whose request session is gone: no extra items
    if session is None:
        return ()
    return tuple(item for provider in _MENU_PROVIDERS if (item := provider(session, user)) is not None)


@dataclass(frozen=True)
class HeaderAccount:
    username: str
    display_name: str | None
    is_moderator: bool
    is_admin: bool
    browsing_level: int = 1  # `accounts.browsing`: the header's level toggle shows these
    blur_nsfw: bool = True
    items: tuple[MenuItem, ...] = ()  # what domains add to the menu for this user

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
            browsing_level=browsing.browsing_level(user),
            blur_nsfw=browsing.blurs_nsfw(user),
            items=_menu_items(user),
        )


_UNSET = object()
_SHOWN = frozenset({"username", "display_name", "role", "banned_at", "browsing_level", "blur_nsfw"})


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
