from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.accounts.models import ApiKey, AuthSession, ModerationActionType, Role, User
from modelyard.accounts.scopes import TokenScope

Username = Field(min_length=1, max_length=64)
Password = Field(min_length=1, max_length=1024)
Email = Field(min_length=3, max_length=320)
Token = Field(min_length=1, max_length=200)
Reason = Field(default=None, max_length=2000)


class PublicUser(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str | None
    bio: str | None = None
    links: list[dict[str, str]] = []
    role: Role
    created_at: datetime


def user_status(user: User) -> Literal["active", "muted", "banned"]:
    return "banned" if user.is_banned else "muted" if user.is_muted else "active"


class Account(BaseModel):
    id: int
    username: str
    email: str
    email_verified: bool
    display_name: str | None
    bio: str | None
    links: list[dict[str, str]]
    role: Role
    status: Literal["active", "muted", "banned"]
    has_password: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> Account:
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
            email_verified=user.email_verified_at is not None,
            display_name=user.display_name,
            bio=user.bio,
            links=user.links or [],
            role=user.role,
            status=user_status(user),
            has_password=user.password_hash is not None,
            created_at=user.created_at,
        )


class SignUp(BaseModel):
    username: str = Username
    email: str = Email
    password: str = Password


class LogIn(BaseModel):
    login: str = Field(min_length=1, max_length=320, description="Username or e-mail address")
    password: str = Password


class TokenIn(BaseModel):
    token: str = Token


class ResetRequest(BaseModel):
    email: str = Email


class ResetConfirm(BaseModel):
    token: str = Token
    password: str = Password


class ProfileUpdate(BaseModel):
    display_name: str | None = Field(default=None, max_length=200)
    bio: str | None = Field(default=None, max_length=5000)
    links: list[dict[str, str]] | None = Field(default=None, max_length=20)


class PasswordChange(BaseModel):
    current_password: str | None = Field(default=None, max_length=1024)
    new_password: str = Password


class SessionInfo(BaseModel):
    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool

    @classmethod
    def of(cls, record: AuthSession, current_id: int | None) -> SessionInfo:
        return cls(
            id=record.id,
            created_at=record.created_at,
            last_seen_at=record.last_seen_at,
            expires_at=record.expires_at,
            ip=record.ip,
            user_agent=record.user_agent,
            current=record.id == current_id,
        )


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] | int | None = Field(
        default=None, description="Scope names (or Civitai's bitmask); empty means Full"
    )
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    buzz_limit: dict[str, Any] | None = Field(
        default=None, description='Spending cap, e.g. {"limit": 500, "period": "day"}'
    )


class ApiKeyInfo(BaseModel):
    id: int
    name: str
    scopes: list[str]
    scope_bits: int
    buzz_limit: dict[str, Any] | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, record: ApiKey) -> ApiKeyInfo:
        scope = TokenScope(record.scopes)
        names = ["Full"] if scope == TokenScope.full() else scope.names()
        return cls(
            id=record.id,
            name=record.name,
            scopes=names,
            scope_bits=record.scopes,
            buzz_limit=record.buzz_limit,
            created_at=record.created_at,
            expires_at=record.expires_at,
            last_used_at=record.last_used_at,
        )


class ApiKeyCreated(ApiKeyInfo):
    key: str = Field(description="The key itself. It is shown this once; store it now.")


class ModerationIn(BaseModel):
    reason: str | None = Reason


class RoleChange(BaseModel):
    role: Role
    reason: str | None = Reason


class AdminUser(Account):
    last_login_at: datetime | None
    muted_at: datetime | None
    banned_at: datetime | None

    @classmethod
    def of(cls, user: User) -> AdminUser:
        return cls(
            **Account.of(user).model_dump(),
            last_login_at=user.last_login_at,
            muted_at=user.muted_at,
            banned_at=user.banned_at,
        )


class ModerationEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: ModerationActionType
    actor_id: int | None
    reason: str | None
    detail: dict[str, Any] | None
    created_at: datetime


class LinkedSignIn(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    provider: str
    email: str | None
    created_at: datetime
