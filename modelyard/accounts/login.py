"""Log-in behind the brute-force guard: a per-IP attempt limit and a temporary per-account lock-out, counted by
core's rate limiter (`modelyard.core.ratelimit`), so every web process shares them."""

from __future__ import annotations

import hashlib
import logging

from fastapi import Request
from sqlalchemy.orm import Session

from modelyard.accounts import service
from modelyard.accounts.models import User
from modelyard.core.errors import RateLimited, Unauthorized
from modelyard.core.http import runtime_of
from modelyard.core.ratelimit import client_bucket, rate_limiter, retry_headers
from modelyard.core.runtime import Runtime

log = logging.getLogger(__name__)


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


class LoginGuard:
    """Log-in protection, shared by every web process through the rate limiter.

    Two limits, because they stop two attacks: attempts per IP per minute stop one host from guessing fast;
    the lock-out is per account whatever the IP, because an attacker spreading guesses over many addresses
    (a botnet) stays under every per-IP limit and is only stopped by counting failures on the account.
    `login_lockout_failures` failures within `login_lockout_minutes` lock the account for that long; a
    successful log-in clears the count.
    """

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.limiter = rate_limiter(runtime)
        self.ip_limit = settings.login_attempts_per_ip_per_minute
        self.max_failures = settings.login_lockout_failures
        self.lockout_seconds = max(1, round(settings.login_lockout_minutes * 60))

    def check(self, ip: str, username: str) -> None:
        """Call before verifying the password; raises RateLimited when this attempt must not be made."""
        attempt = self.limiter.hit(f"login-ip:{client_bucket(ip)}", limit=self.ip_limit, window_seconds=60)
        if not attempt.allowed:
            raise RateLimited(
                f"Too many log-in attempts from your address; try again in {attempt.retry_after} s",
                headers=retry_headers(attempt),
            )
        lock = self.limiter.peek(self._lock_key(username), limit=1, window_seconds=self.lockout_seconds)
        if not lock.allowed:
            minutes = -(-lock.retry_after // 60)
            raise RateLimited(
                f"Too many failed log-ins for this account; try again in {minutes} minute{'s' if minutes != 1 else ''}",
                headers=retry_headers(lock),
            )

    def failed(self, ip: str, username: str) -> None:
        failures = self.limiter.hit(
            self._failures_key(username), limit=self.max_failures, window_seconds=self.lockout_seconds
        )
        if failures.remaining == 0:  # that was the last failure allowed (or one past it, racing another)
            locked = self.limiter.hit(self._lock_key(username), limit=1, window_seconds=self.lockout_seconds)
            if locked.allowed:
                log.warning("account locked after failed log-ins", extra={"ip": ip, "seconds": self.lockout_seconds})

    def succeeded(self, username: str) -> None:
        self.limiter.reset(self._failures_key(username))

    @staticmethod
    def _account(username: str) -> str:
        # Hashed: the name arrives before any validation, and must not make keys of any size.
        return hashlib.blake2b(username.strip().casefold().encode(), digest_size=16).hexdigest()

    def _failures_key(self, username: str) -> str:
        return f"login-fail:{self._account(username)}"

    def _lock_key(self, username: str) -> str:
        return f"login-lock:{self._account(username)}"
