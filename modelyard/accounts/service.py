"""Users: sign-up, e-mail verification, log-in, password reset and change, profile."""

from __future__ import annotations

import contextlib
import re
import unicodedata
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from modelyard.accounts import policy, sessions
from modelyard.accounts.models import Role, TokenPurpose, User, UserToken
from modelyard.accounts.passwords import password_problem
from modelyard.accounts.tokens import keyed_hash, new_url_token
from modelyard.core.db import utcnow
from modelyard.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from modelyard.core.runtime import get_runtime
from modelyard.mail.service import send_email
from modelyard.search import outbox

_hasher = PasswordHasher()
# Usernames are ASCII on purpose: no Unicode look-alike (a Cyrillic "a" in "alice") can impersonate anyone.
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{1,37}[A-Za-z0-9_]$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
RESERVED_USERNAMES = frozenset(
    [
        "admin",
        "administrator",
        "root",
        "system",
        "modelyard",
        "civitai",
        "moderator",
        "mod",
        "support",
        "help",
        "staff",
        "team",
        "official",
        "api",
        "www",
        "mail",
        "email",
        "login",
        "logout",
        "signup",
        "register",
        "account",
        "accounts",
        "settings",
        "me",
        "null",
        "undefined",
        "anonymous",
        "guest",
        "security",
        "abuse",
        "noreply",
        "postmaster",
        "webmaster",
        "info",
        "contact",
        "about",
        "status",
        "docs",
        "static",
        "files",
        "user",
        "users",
    ]
)
MAX_DISPLAY_NAME = 80
MAX_BIO = 2000
MAX_LINKS = 10


def username_key(username: str) -> str:
    return unicodedata.normalize("NFKC", username).casefold()


def check_username(username: str) -> str:
    if not USERNAME_PATTERN.match(username):
        raise ValidationFailed(
            "Usernames are 3 to 39 characters of a-z, 0-9, '_', '.' and '-', starting and ending with a letter, "
            "digit or '_'",
            field="username",
        )
    if ".." in username or username_key(username) in RESERVED_USERNAMES:
        raise ValidationFailed(f"The username {username} is not available", field="username")
    return username


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        raise ValidationFailed("That is not an e-mail address", field="email")
    return email


# Built once: composing the statement on every call costs more than running it on SQLite.
_BY_USERNAME_KEY = select(User).where(User.username_key == bindparam("key"))


_PUBLIC_COLUMNS = (User.id, User.username, User.display_name, User.bio, User.links, User.role, User.created_at)
_PUBLIC_BY_USERNAME_KEY = select(*_PUBLIC_COLUMNS).where(User.username_key == bindparam("key"))


def public_profile(db: Session | Connection, username: str) -> dict[str, Any]:
    """The public columns of a user, without building an ORM object (the profile is read far more often than
    it is written, and the public API leans on it): the route reads it on a bare Connection."""
    row = db.execute(_PUBLIC_BY_USERNAME_KEY, {"key": username_key(username)}).mappings().first()
    if row is None:
        raise NotFound(f"No user named {username}")
    return dict(row)


def get_by_username(session: Session, username: str) -> User:
    user = session.scalar(_BY_USERNAME_KEY, {"key": username_key(username)})
    if user is None:
        raise NotFound(f"No user named {username}")
    return user


def find_by_login(session: Session, login: str) -> User | None:
    """A user by username or e-mail address."""
    login = login.strip()
    if "@" in login:
        return session.scalar(select(User).where(User.email == login.lower()))
    return session.scalar(select(User).where(User.username_key == username_key(login)))


def create_user(
    session: Session,
    *,
    username: str,
    email: str,
    password: str | None,
    role: Role = Role.user,
    email_verified: bool = False,
) -> User:
    check_username(username)
    email = normalise_email(email)
    if password is not None:
        problem = password_problem(password, username=username, email=email)
        if problem:
            raise ValidationFailed(problem, field="password")
    key = username_key(username)
    if session.scalar(select(func.count()).select_from(User).where(User.username_key == key)):
        raise Conflict(f"The username {username} is taken", field="username")
    if session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise Conflict(f"An account with {email} exists already", field="email")
    now = utcnow()
    user = User(
        username=username,
        username_key=key,
        email=email,
        email_verified_at=now if email_verified else None,
        password_hash=_hasher.hash(password) if password is not None else None,
        password_changed_at=now if password is not None else None,
        role=role,
        links=[],
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def sign_up(session: Session, *, username: str, email: str, password: str) -> User:
    if not get_runtime().settings.signup_enabled:
        raise Forbidden("Sign-up is closed on this server; ask an administrator for an account")
    user = create_user(session, username=username, email=email, password=password)
    send_verification(session, user)
    return user


# --- passwords and log-in -------------------------------------------------------------------------------------


def verify_password(user: User, password: str) -> bool:
    if user.password_hash is None or len(password) > 1024:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = _hasher.hash("timing-equaliser-not-a-password")


def authenticate(session: Session, *, login: str, password: str) -> User:
    """The user whose credentials these are."""
    return check_credentials(find_by_login(session, login), password)


def check_credentials(user: User | None, password: str) -> User:
    """`user` if `password` is theirs. Unknown users (None) cost the same time as known ones."""
    if user is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password[:1024])
        raise Unauthorized("Wrong username or password")
    if not verify_password(user, password):
        raise Unauthorized("Wrong username or password")
    if user.is_banned:
        raise Forbidden("This account is banned")
    if _hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def change_password(
    session: Session, user: User, *, current: str | None, new: str, keep_session_id: int | None
) -> None:
    if user.password_hash is not None and (current is None or not verify_password(user, current)):
        raise Forbidden("The current password is wrong", field="current_password")
    _set_password(session, user, new)
    sessions.revoke_all(session, user, except_id=keep_session_id)


def _set_password(session: Session, user: User, password: str) -> None:
    problem = password_problem(password, username=user.username, email=user.email)
    if problem:
        raise ValidationFailed(problem, field="password")
    user.password_hash = _hasher.hash(password)
    user.password_changed_at = utcnow()


# --- e-mail tokens --------------------------------------------------------------------------------------------


def _issue_token(session: Session, user: User, purpose: TokenPurpose) -> str:
    token = new_url_token()
    lifetime = timedelta(hours=get_runtime().settings.email_token_lifetime_hours)
    session.add(
        UserToken(
            token_hash=keyed_hash(token, purpose=f"email-{purpose.value}"),
            purpose=purpose,
            user_id=user.id,
            email=user.email,
            expires_at=utcnow() + lifetime,
        )
    )
    return token


def _valid_token(session: Session, token: str, purpose: TokenPurpose) -> tuple[User, UserToken]:
    """The user and the unused, unexpired token record; the caller marks it used once its work succeeded."""
    if not token or len(token) > 200:
        raise BadRequest("This link is not valid")
    record = session.scalar(
        select(UserToken)
        .where(UserToken.token_hash == keyed_hash(token, purpose=f"email-{purpose.value}"))
        .with_for_update()
    )
    if record is None or record.purpose != purpose:
        raise BadRequest("This link is not valid")
    if record.used_at is not None:
        raise BadRequest("This link has been used already")
    if record.expires_at <= utcnow():
        raise BadRequest("This link has expired; ask for a new one")
    user = session.get(User, record.user_id)
    if user is None or user.email != record.email:
        raise BadRequest("This link is for an e-mail address the account no longer uses")
    return user, record


def send_verification(session: Session, user: User) -> None:
    token = _issue_token(session, user, TokenPurpose.verify_email)
    link = f"{get_runtime().settings.site_url}/verify-email?token={token}"
    send_email(
        session,
        to=user.email,
        subject="Confirm your e-mail address",
        body=f"Hello {user.username},\n\nconfirm your e-mail address by opening this link:\n\n{link}\n\n"
        "If you did not sign up, ignore this message.\n",
    )


def verify_email(session: Session, token: str) -> User:
    user, record = _valid_token(session, token, TokenPurpose.verify_email)
    record.used_at = utcnow()
    user.email_verified_at = user.email_verified_at or utcnow()
    return user


def request_password_reset(session: Session, *, email: str) -> None:
    """Sends a reset link if an account has this address; says nothing either way (no account discovery)."""
    try:
        address = normalise_email(email)
    except ValidationFailed:
        return
    user = session.scalar(select(User).where(User.email == address))
    if user is None or user.is_banned or not _reset_mail_allowed(address):
        return
    token = _issue_token(session, user, TokenPurpose.reset_password)
    link = f"{get_runtime().settings.site_url}/reset-password/confirm?token={token}"
    send_email(
        session,
        to=user.email,
        subject="Reset your password",
        body=f"Hello {user.username},\n\nset a new password here:\n\n{link}\n\n"
        "The link works once. If you did not ask for it, ignore this message: your password stays as it is.\n",
    )


RESET_MAILS_PER_HOUR = 3


def _reset_mail_allowed(address: str) -> bool:
    """At most a few reset e-mails an hour per address, whoever asks: nobody can flood an inbox through us."""
    from modelyard.core.ratelimit import rate_limiter

    decision = rate_limiter(get_runtime()).hit(
        f"reset-mail:{keyed_hash(address, purpose='reset-mail')[:32]}", limit=RESET_MAILS_PER_HOUR, window_seconds=3600
    )
    return decision.allowed


def reset_password(session: Session, *, token: str, password: str) -> User:
    user, record = _valid_token(session, token, TokenPurpose.reset_password)
    _set_password(session, user, password)  # raises on a weak password before the link is spent
    record.used_at = utcnow()
    # Every other outstanding reset link dies with this one, and every log-in ends.
    session.execute(
        update(UserToken)
        .where(
            UserToken.user_id == user.id, UserToken.purpose == TokenPurpose.reset_password, UserToken.used_at.is_(None)
        )
        .values(used_at=utcnow())
    )
    sessions.revoke_all(session, user)
    user.email_verified_at = user.email_verified_at or utcnow()  # the link proved the address
    return user


# --- profile --------------------------------------------------------------------------------------------------


def update_profile(
    session: Session,
    user: User,
    *,
    display_name: str | None = None,
    bio: str | None = None,
    links: list[dict[str, str]] | None = None,
) -> User:
    """Change the public profile's text. Muted users read but do not post (`policy.can_post`), and what they would
    write here is read by others: they may save it unchanged, not change it."""
    changes: dict[str, Any] = {}
    if display_name is not None:
        display_name = display_name.strip()
        if len(display_name) > MAX_DISPLAY_NAME or any(unicodedata.category(c) == "Cc" for c in display_name):
            raise ValidationFailed(f"Display names are up to {MAX_DISPLAY_NAME} printable characters")
        changes["display_name"] = display_name or None
    if bio is not None:
        if len(bio) > MAX_BIO:
            raise ValidationFailed(f"The bio is limited to {MAX_BIO} characters")
        changes["bio"] = bio.strip() or None
    if links is not None:
        checked = [_check_link(link) for link in links[: MAX_LINKS + 1]]
        if len(checked) > MAX_LINKS:
            raise ValidationFailed(f"Up to {MAX_LINKS} links")
        changes["links"] = checked
    changed = {name: value for name, value in changes.items() if getattr(user, name) != value}
    if changed and not policy.can_post(user):
        raise Forbidden("Your account is muted: your profile's name, bio and links cannot change for now")
    for name, value in changed.items():
        setattr(user, name, value)
    if changed.keys() & {"display_name", "bio"}:
        outbox.queue(session, "users", [user.id], "update")
    return user


def _check_link(link: dict[str, str]) -> dict[str, str]:
    url = str(link.get("url", "")).strip()
    label = str(link.get("label", "")).strip()[:60]
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 500:
        raise ValidationFailed(f"{url[:80]!r} is not an http(s) link")
    return {"label": label or parsed.netloc, "url": url}
