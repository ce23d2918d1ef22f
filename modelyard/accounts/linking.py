"""Which user an OAuth/OIDC identity logs in as: its linked account, the logged-in user linking it, an existing
account with the same verified e-mail address, or a new account."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts import service
from modelyard.accounts.models import OAuthAccount, User
from modelyard.accounts.oauth import Identity
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from modelyard.core.runtime import get_runtime


def resolve(session: Session, identity: Identity, *, current: User | None) -> User:
    link = session.scalar(
        select(OAuthAccount).where(OAuthAccount.provider == identity.provider, OAuthAccount.subject == identity.subject)
    )
    if link is not None:
        if current is not None and current.id != link.user_id:
            raise Conflict("This sign-in is already linked to another account")
        user = session.get(User, link.user_id)
        assert user is not None
        return _usable(user)
    if current is not None:
        _link(session, current, identity)
        return current
    if identity.email:
        existing = session.scalar(select(User).where(User.email == identity.email))
        if existing is not None:
            # Only two proven addresses make the same person: otherwise someone could pre-register a victim's
            # address and later ride along on the victim's provider log-in (or the other way round).
            if not (identity.email_verified and existing.email_verified_at is not None):
                raise Conflict(
                    f"An account with {identity.email} exists. Log in with its password, then link this "
                    "sign-in from your account settings."
                )
            _link(session, existing, identity)
            return _usable(existing)
    return _create(session, identity)


def _usable(user: User) -> User:
    if user.is_banned:
        raise Forbidden("This account is banned")
    user.last_login_at = utcnow()
    return user


def _link(session: Session, user: User, identity: Identity) -> None:
    session.add(
        OAuthAccount(provider=identity.provider, subject=identity.subject, user_id=user.id, email=identity.email)
    )
    session.flush()


def _create(session: Session, identity: Identity) -> User:
    if not get_runtime().settings.signup_enabled:
        raise Forbidden("Sign-up is closed on this server; ask an administrator for an account")
    if not identity.email:
        raise Conflict("The log-in provider shared no e-mail address; an account needs one")
    user = service.create_user(
        session,
        username=_free_username(session, identity),
        email=identity.email,
        password=None,
        email_verified=identity.email_verified,
    )
    if identity.name:
        user.display_name = identity.name[:80]
    _link(session, user, identity)
    user.last_login_at = utcnow()
    if not identity.email_verified:
        service.send_verification(session, user)
    return user


def _free_username(session: Session, identity: Identity) -> str:
    raw = identity.preferred_username or identity.name or (identity.email or "").split("@")[0] or "member"
    base = re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_")[:30] or "member"
    if len(base) < 3:
        base = f"{base}_member"
    candidate = base
    for n in range(2, 1000):
        try:
            service.check_username(candidate)
        except ValidationFailed:  # reserved or ill-formed: try the next candidate
            candidate = f"{base}_{n}"
            continue
        taken = session.scalar(
            select(func.count()).select_from(User).where(User.username_key == service.username_key(candidate))
        )
        if not taken:
            return candidate
        candidate = f"{base}_{n}"
    raise Conflict("Could not find a free username; sign up with a username of your choice")


def linked_accounts(session: Session, user: User) -> list[OAuthAccount]:
    return list(session.scalars(select(OAuthAccount).where(OAuthAccount.user_id == user.id)))


def unlink(session: Session, user: User, link_id: int) -> None:
    link = session.get(OAuthAccount, link_id)
    if link is None or link.user_id != user.id:
        raise NotFound(f"No linked sign-in with id {link_id}")
    remaining = session.scalar(select(func.count()).select_from(OAuthAccount).where(OAuthAccount.user_id == user.id))
    if user.password_hash is None and (remaining or 0) <= 1:
        raise Conflict("This is your only way to log in: set a password first, then unlink it")
    session.delete(link)
