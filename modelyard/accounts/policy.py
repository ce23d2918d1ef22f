"""Every permission decision, in one place: routes, pages, the public API and jobs all ask here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.accounts.models import Role, User
from modelyard.accounts.scopes import TokenScope
from modelyard.core.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from modelyard.accounts.auth import Principal

ROLE_RANK = {Role.user: 0, Role.moderator: 1, Role.admin: 2}


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


def has_role(user: User | None, role: Role) -> bool:
    return user is not None and not user.is_banned and ROLE_RANK[user.role] >= ROLE_RANK[role]


def is_moderator(user: User | None) -> bool:
    return has_role(user, Role.moderator)


def require_moderator(principal: Principal) -> User:
    user = require_user(principal)
    if not has_role(user, Role.moderator):
        raise Forbidden("Only moderators can do this")
    _require_full_key(principal)
    return user


def require_admin(principal: Principal) -> User:
    user = require_user(principal)
    if not has_role(user, Role.admin):
        raise Forbidden("Only administrators can do this")
    _require_full_key(principal)
    return user


def _require_full_key(principal: Principal) -> None:
    # Staff powers have no scope bit of their own in Civitai's scheme; a narrow key (a downloader's
    # ModelsRead) must not carry them, so only a Full key does.
    if not principal.allows(TokenScope.full()):
        raise Forbidden("Moderation and administration through an API key need a key with the Full scope")


def can_post(user: User | None) -> bool:
    """Muted users read but do not post (comments, reviews, images, articles…)."""
    return user is not None and not user.is_banned and not user.is_muted


def require_can_post(principal: Principal) -> User:
    user = require_user(principal)
    if not can_post(user):
        raise Forbidden("Your account is muted: you cannot post for now")
    return user


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
