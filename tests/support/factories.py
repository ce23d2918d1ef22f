"""Small factories for test data: `create_<thing>(runtime, **overrides)`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from modelyard.accounts.apikeys import create_key
from modelyard.accounts.models import Role, User
from modelyard.accounts.scopes import TokenScope
from modelyard.accounts.service import create_user as create_user_record
from modelyard.core.csrf import CSRF_COOKIE
from modelyard.core.runtime import Runtime

PASSWORD = "a long unguessable passphrase"
# The suite's MODELYARD_METRICS_TOKEN (tests/conftest.py): /metrics answers only with it.
METRICS_TOKEN = "metrics-token-for-the-test-suite"
METRICS_HEADERS = {"Authorization": f"Bearer {METRICS_TOKEN}"}
_counter = itertools.count(1)


@dataclass
class UserFixture:
    id: int
    username: str
    email: str
    password: str


def create_user(
    runtime: Runtime,
    *,
    role: Role = Role.user,
    username: str | None = None,
    password: str = PASSWORD,
    verified: bool = True,
) -> UserFixture:
    n = next(_counter)
    username = username or f"user{n}"
    with runtime.db.transaction() as session:
        user = create_user_record(
            session,
            username=username,
            email=f"{username.lower()}@example.com",
            password=password,
            role=role,
            email_verified=verified,
        )
        return UserFixture(user.id, user.username, user.email, password)


def create_api_key(
    runtime: Runtime, user: UserFixture, *, scopes: TokenScope | None = None, expires_in_days: int | None = None
) -> str:
    with runtime.db.transaction() as session:
        record = session.get(User, user.id)
        assert record is not None
        return create_key(session, record, name="test key", scopes=scopes, expires_in_days=expires_in_days).key


def with_csrf(client: TestClient) -> TestClient:
    """Send the CSRF cookie's token with the client's later requests, as the site's pages do."""
    if CSRF_COOKIE not in client.cookies:
        client.get("/")  # pages hand out the token; JSON responses set no cookie
    client.headers["x-csrf-token"] = client.cookies[CSRF_COOKIE]
    return client


def log_in(client: TestClient, user: UserFixture) -> TestClient:
    """Log the test client in as a browser would, and send the CSRF token with its later requests."""
    with_csrf(client)
    response = client.post("/api/auth/login", json={"login": user.username, "password": user.password})
    assert response.status_code == 200, response.text
    return with_csrf(client)


def create_dead_job(runtime: Runtime, tmp_path: Path, *, token: str = "dead") -> str:
    """A job that failed all its attempts and sits in the dead-letter table (its flag file is left in place;
    delete it before requeueing to let the job succeed)."""
    from modelyard.core.jobs import Job, enqueue
    from modelyard.core.jobs.runner import execute

    flag = tmp_path / f"fail-{token}"
    flag.touch()
    with runtime.db.transaction() as session:
        job_id = enqueue(session, "tests.fails_while_flag", flag=str(flag), token=token).id
    for _ in range(2):  # tests.fails_while_flag has max_attempts=2
        with runtime.db.transaction() as session:
            job = session.get(Job, job_id)
            assert job is not None
            job.run_after = job.created_at  # due now, without waiting out the backoff
        execute(runtime, job_id)
    return job_id
