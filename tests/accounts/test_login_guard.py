"""The log-in guard (`accounts.login.LoginGuard`): attempts per IP, and the lock-out per account whatever the
address, counted by core's rate limiter (in process, and on Redis in the scaled pass)."""

from __future__ import annotations

import time

import pytest

from modelyard.accounts.login import LoginGuard
from modelyard.core.errors import RateLimited
from modelyard.core.runtime import Runtime
from tests.core.test_ratelimit import isolated_runtime


def test_login_attempts_per_ip_are_limited(runtime: Runtime) -> None:
    guard = LoginGuard(isolated_runtime(runtime, login_attempts_per_ip_per_minute=3))
    for name in ("a", "b", "c"):
        guard.check("203.0.113.5", name)
    with pytest.raises(RateLimited, match="from your address; try again in 20 s"):
        guard.check("203.0.113.5", "d")
    guard.check("203.0.113.6", "d")


def test_account_locks_after_failures_from_any_address(runtime: Runtime) -> None:
    guard = LoginGuard(isolated_runtime(runtime, login_lockout_failures=3, login_lockout_minutes=15))
    for n, name in enumerate(("Alice", "alice", " ALICE ")):  # one account, however it is typed
        guard.check(f"203.0.113.{n}", name)
        guard.failed(f"203.0.113.{n}", name)
    with pytest.raises(RateLimited) as locked:
        guard.check("198.51.100.9", "alice")
    assert str(locked.value) == "Too many failed log-ins for this account; try again in 15 minutes"
    assert 890 <= int(locked.value.headers["Retry-After"]) <= 900
    guard.check("198.51.100.9", "bob")


def test_a_successful_log_in_clears_the_failures(runtime: Runtime) -> None:
    guard = LoginGuard(isolated_runtime(runtime, login_lockout_failures=3))
    guard.failed("203.0.113.1", "alice")
    guard.failed("203.0.113.1", "alice")
    guard.succeeded("Alice")
    guard.failed("203.0.113.1", "alice")
    guard.failed("203.0.113.1", "alice")
    guard.check("203.0.113.1", "alice")


def test_the_lock_out_expires(runtime: Runtime) -> None:
    # model_copy skips validation, so the lock-out can last one second instead of the minimum minute.
    guard = LoginGuard(isolated_runtime(runtime, login_lockout_failures=2, login_lockout_minutes=1 / 60))
    guard.failed("203.0.113.1", "alice")
    guard.failed("203.0.113.1", "alice")
    with pytest.raises(RateLimited, match=r"try again in 1 minute$"):
        guard.check("203.0.113.1", "alice")
    time.sleep(1.1)
    guard.check("203.0.113.1", "alice")
