"""Every permission decision, in one place: routes, pages, the public API and jobs all ask here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import inspect

from modelyard.accounts.models import Role, User
from modelyard.accounts.scopes import TokenScope
from modelyard.core.db import utcnow
from modelyard.core.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from modelyard.accounts.auth import Principal

ROLE_RANK = {Role.user: 0, Role.moderator: 1, Role.admin: 2}
_STAFF_POWERS_WITHHELD = "policy.staff_powers_withheld"
_NEEDS_FULL_KEY = "Moderation and administration through an API key need a key with the Full scope"


def require_user(principal: Principal) -> User:
    if principal.user is None:
        raise Unauthorized(principal.problem or "Log in, or send an API key as `Authorization: Bearer <key>`")
    return principal.user


def require_scope(principal: Principal, scope: TokenScope) -> User:
    user = require_user(principal)
    if not principal.allows(scope):
        missing = TokenScope(scope & ~principal.scopes).names()
        raise Forbidden(f"This API key lacks the scope {', '.join(missing)}", missing_scopes=missing)
    return user


def withhold_staff_powers(user: User) -> None:
    """Take `user`'s staff powers away for the rest of this request: they called with an API key that lacks the
    Full scope. Staff powers have no scope bit of their own in Civitai's scheme, and a narrow key (a downloader's
    ModelsRead) must not carry them: not to act (`require_moderator`), nor to see (drafts, private, deleted
    models; `catalog.visibility`), nor to be treated as staff by a cache (`visibility.sees_only_public`),
    a download or a page. Marked on this request's instance of the user (its ORM state; the session ends with
    the request), which every role question reads through `has_role`: no call site has to remember."""
    inspect(user).info[_STAFF_POWERS_WITHHELD] = True


def staff_powers_withheld(user: User) -> bool:
    return bool(inspect(user).info.get(_STAFF_POWERS_WITHHELD))


def has_role(user: User | None, role: Role) -> bool:
    """The one role check: every decision about staff goes through here (never `user.role` itself)."""
    if user is None or user.is_banned:
        return False
    rank = ROLE_RANK[Role.user] if staff_powers_withheld(user) else ROLE_RANK[user.role]
    return rank >= ROLE_RANK[role]


def is_moderator(user: User | None) -> bool:
    return has_role(user, Role.moderator)


def require_moderator(principal: Principal) -> User:
    return _require_role(principal, Role.moderator, "Only moderators can do this")


def require_admin(principal: Principal) -> User:
    return _require_role(principal, Role.admin, "Only administrators can do this")


def _require_role(principal: Principal, role: Role, refusal: str) -> User:
    user = require_user(principal)
    if has_role(user, role):
        # A narrow key's user has no staff powers (`withhold_staff_powers`, done when the key is resolved);
        # checked here too, so a principal made some other way cannot carry them either.
        if not principal.allows(TokenScope.full()):
            raise Forbidden(_NEEDS_FULL_KEY)
        return user
    if staff_powers_withheld(user) and not user.is_banned and ROLE_RANK[user.role] >= ROLE_RANK[role]:
        raise Forbidden(_NEEDS_FULL_KEY)
    raise Forbidden(refusal)


def can_post(user: User | None) -> bool:
    """Muted users read but do not post (comments, reviews, images, articles…)."""
    return user is not None and not user.is_banned and not user.is_muted


def require_can_post(principal: Principal) -> User:
    """A logged-in user who may post now: not muted, and (for uploads) not paused by strikes."""
    user = require_user(principal)
    if not can_post(user):
        raise Forbidden("Your account is muted: you cannot post for now")
    require_can_upload(user)
    return user


def uploads_paused(user: User | None) -> bool:
    """Strikes paused this user's uploads, and the pause still runs (`moderation.strikes` sets it)."""
    until = user.uploads_paused_until if user is not None else None
    return until is not None and until > utcnow()


def require_can_upload(user: User) -> None:
    """Refuse an upload (a model, a file, an image) while strikes pause the user's uploads, saying until when."""
    if uploads_paused(user):
        assert user.uploads_paused_until is not None
        until = user.uploads_paused_until.strftime("%Y-%m-%d %H:%M UTC")
        raise Forbidden(
            f"Your uploads are paused until {until} because of strikes on your account",
            paused_until=user.uploads_paused_until.isoformat(),
        )


def can_moderate_user(actor: User, target: User) -> bool:
    """Moderators act on users; only administrators act on moderators and administrators."""
    if not has_role(actor, Role.moderator) or actor.id == target.id:
        return False
    return ROLE_RANK[actor.role] > ROLE_RANK[target.role] or actor.role == Role.admin


def can_change_role(actor: User, target: User, role: Role) -> bool:
    return has_role(actor, Role.admin) and actor.id != target.id


def is_owner_or_moderator(user: User | None, owner_id: int) -> bool:
    """The visibility rule's people: the owner and moderators see what others may not."""
    return user is not None and not user.is_banned and (user.id == owner_id or has_role(user, Role.moderator))
