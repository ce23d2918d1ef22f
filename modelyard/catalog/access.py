"""Who may write a model: its owner and moderators, named once here for services, JSON routes and pages.

- `may_write(user, model)`: the rule itself (a banned user writes nothing); pages ask it to offer buttons.
- `require_writer(actor, model)`: what a service checks before changing a model, its versions or files: the rule,
  a muted owner posts nothing, and a deleted model is restored before it is changed.
- `model_for_write` / `version_for_write`: what a request may act on. What the caller may not see is a 404, like
  what does not exist (`visibility`); acting on someone else's model is a moderator's power, which through an API
  key needs the Full scope (`policy.require_moderator`). Pages answer a non-manager's attempt with a 404 too
  (`hidden=True`), the JSON API with a 403.
- `ModelWrite`, `ModelDelete`, `VersionWrite`, `VersionDelete`: the same as FastAPI dependencies for the JSON API,
  with the token scope the action needs (ModelsWrite, or ModelsDelete to delete).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.auth import Principal, PrincipalDep
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.errors import Conflict, Forbidden, NotFound
from modelyard.core.http import SessionDep
from modelyard.core.params import Id


def may_write(user: User | None, model: Model) -> bool:
    """The rule: the model's owner and moderators (neither banned) may change it."""
    return policy.is_owner_or_moderator(user, model.user_id)


def require_writer(actor: User, model: Model) -> None:
    """For services: `actor` may change `model` now (the rule, not muted, not deleted)."""
    if not may_write(actor, model):
        raise Forbidden("Only the model's owner or a moderator can change it")
    if not policy.is_moderator(actor) and not policy.can_post(actor):
        raise Forbidden("Your account is muted: you cannot change models for now")
    if model.status == ModelStatus.Deleted:
        raise Conflict(f"Model {model.id} is Deleted; restore it before changing it")


def check_writer(principal: Principal, model: Model, *, hidden: bool = False) -> User:
    """The caller, if they may act on `model` (which they can see): its owner, or a moderator whose credentials
    carry staff powers. `hidden`: a caller who is neither gets the 404 of a model that does not exist."""
    user = policy.require_user(principal)
    if user.id == model.user_id:
        return user
    if hidden and not may_write(user, model):
        raise NotFound(f"No model with id {model.id}")
    policy.require_moderator(principal)
    return user


def model_for_write(session: Session, principal: Principal, model_id: int, *, hidden: bool = False) -> Model:
    """The model `principal` may act on; 404 when they may not see it."""
    model = visibility.get_model(session, policy.require_user(principal), model_id)
    check_writer(principal, model, hidden=hidden)
    return model


def version_for_write(session: Session, principal: Principal, version_id: int, *, hidden: bool = False) -> ModelVersion:
    """The version `principal` may act on (through its model); 404 when they may not see it."""
    version = visibility.get_version(session, policy.require_user(principal), version_id)
    check_writer(principal, version.model, hidden=hidden)
    return version


# --- FastAPI dependencies for the JSON API ---------------------------------------------------------------------


@dataclass(frozen=True)
class ModelAccess:
    user: User
    model: Model


@dataclass(frozen=True)
class VersionAccess:
    user: User
    version: ModelVersion


def _model_access(scope: TokenScope) -> Callable[..., ModelAccess]:
    def dependency(model_id: Id, principal: PrincipalDep, session: SessionDep) -> ModelAccess:
        user = policy.require_scope(principal, scope)
        return ModelAccess(user, model_for_write(session, principal, model_id))

    return dependency


def _version_access(scope: TokenScope) -> Callable[..., VersionAccess]:
    def dependency(version_id: Id, principal: PrincipalDep, session: SessionDep) -> VersionAccess:
        user = policy.require_scope(principal, scope)
        return VersionAccess(user, version_for_write(session, principal, version_id))

    return dependency


ModelWrite = Annotated[ModelAccess, Depends(_model_access(TokenScope.ModelsWrite))]
ModelDelete = Annotated[ModelAccess, Depends(_model_access(TokenScope.ModelsDelete))]
VersionWrite = Annotated[VersionAccess, Depends(_version_access(TokenScope.ModelsWrite))]
VersionDelete = Annotated[VersionAccess, Depends(_version_access(TokenScope.ModelsDelete))]
