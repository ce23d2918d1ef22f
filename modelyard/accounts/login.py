"""Log-in behind the brute-force guard: a per-IP attempt limit and a temporary per-account lock-out."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from modelyard.accounts import service
from modelyard.accounts.models import User
from modelyard.core.errors import Unauthorized
from modelyard.core.http import runtime_of
from modelyard.core.ratelimit import LoginGuard


def guarded_authenticate(request: Request, session: Session, *, login: str, password: str) -> User:
    guard = LoginGuard(runtime_of(request))
    ip = request.client.host if request.client else "unknown"
    # One counter per account however it is named (username in any case, or e-mail address), so alternating
    # the two does not double an attacker's guesses.
    known = service.find_by_login(session, login)
    account = f"user:{known.id}" if known is not None else login
    guard.check(ip, account)
    try:
        user = service.check_credentials(known, password)
    except Unauthorized:
        guard.failed(ip, account)
        raise
    guard.succeeded(account)
    return user
