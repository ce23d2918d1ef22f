from __future__ import annotations

from fastapi import APIRouter

from modelyard.accounts import service
from modelyard.accounts.schemas import PublicUser
from modelyard.core.http import SessionDep

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/{username}", response_model=PublicUser, responses={404: {"description": "No such user"}})
def get_user(username: str, session: SessionDep) -> PublicUser:
    """A user's public profile. Usernames match case-insensitively."""
    return PublicUser.model_validate(service.get_by_username(session, username))
