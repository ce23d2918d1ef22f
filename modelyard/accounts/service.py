"""Users: creation with normalised, unique usernames and argon2id password hashes."""

from __future__ import annotations

import re
import unicodedata

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts.models import Role, User
from modelyard.core.errors import Conflict, NotFound, ValidationFailed

_hasher = PasswordHasher()
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{2,38}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


def username_key(username: str) -> str:
    return unicodedata.normalize("NFKC", username).casefold()


def get_by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username_key == username_key(username)))
    if user is None:
        raise NotFound(f"No user named {username}")
    return user


def create_user(session: Session, *, username: str, email: str, password: str | None, role: Role = Role.user) -> User:
    if not USERNAME_PATTERN.match(username):
        raise ValidationFailed(
            "Usernames are 3 to 39 characters: letters, digits, '_', '.', '-', not starting with '.' or '-'"
        )
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        raise ValidationFailed(f"{email!r} is not an e-mail address")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters")
    key = username_key(username)
    if session.scalar(select(func.count()).select_from(User).where(User.username_key == key)):
        raise Conflict(f"The username {username} is taken")
    if session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise Conflict(f"An account with {email} exists already")
    user = User(
        username=username,
        username_key=key,
        email=email,
        password_hash=_hasher.hash(password) if password is not None else None,
        role=role,
    )
    session.add(user)
    session.flush()
    return user


def verify_password(user: User, password: str) -> bool:
    if user.password_hash is None:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except Exception:  # noqa: BLE001 - argon2 raises several types for "does not match"
        return False
