from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from modelyard.accounts.models import User, UserToken
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from modelyard.mail.models import OutgoingEmail
from tests.support.factories import PASSWORD, create_user, log_in, with_csrf

NEW_PASSWORD = "another long unguessable phrase"


def last_link(runtime: Runtime, to: str, path: str) -> str:
    with runtime.db.session() as session:
        body = session.scalars(
            select(OutgoingEmail.body).where(OutgoingEmail.to == to).order_by(OutgoingEmail.id.desc())
        ).first()
    assert body is not None
    match = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)", body)
    assert match, body
    return match.group(1)


def test_verification_link_confirms_the_address_once(client: TestClient, runtime: Runtime) -> None:
    client.post("/api/auth/signup", json={"username": "vera", "email": "vera@example.com", "password": PASSWORD})
    with_csrf(client)
    token = last_link(runtime, "vera@example.com", "/verify-email")
    first = client.post("/api/auth/verify-email", json={"token": token})
    assert first.status_code == 200 and first.json()["email_verified"] is True
    again = client.post("/api/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and "used already" in again.json()["detail"]


def test_tampered_and_expired_links_are_refused(client: TestClient, runtime: Runtime) -> None:
    client.post("/api/auth/signup", json={"username": "vera", "email": "vera@example.com", "password": PASSWORD})
    with_csrf(client)
    token = last_link(runtime, "vera@example.com", "/verify-email")
    assert (
        client.post(
            "/api/auth/verify-email", json={"token": token[:-1] + ("B" if token.endswith("A") else "A")}
        ).status_code
        == 400
    )
    with runtime.db.transaction() as session:
        session.execute(update(UserToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = client.post("/api/auth/verify-email", json={"token": token})
    assert response.status_code == 400 and "expired" in response.json()["detail"]
    with runtime.db.session() as session:
        assert session.scalar(select(User.email_verified_at)) is None


def test_password_reset_sets_the_password_and_ends_every_session(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime)
    log_in(client, user)
    old_cookie = client.cookies["modelyard_session"]
    assert client.post("/api/auth/password-reset", json={"email": user.email}).status_code == 202
    token = last_link(runtime, user.email, "/reset-password/confirm")
    confirmed = client.post("/api/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD})
    assert confirmed.status_code == 200, confirmed.text
    client.cookies.set("modelyard_session", old_cookie)
    assert client.get("/api/account").status_code == 401
    assert client.post("/api/auth/login", json={"login": user.username, "password": user.password}).status_code == 401
    assert client.post("/api/auth/login", json={"login": user.username, "password": NEW_PASSWORD}).status_code == 200
    reuse = client.post("/api/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD + "x"})
    assert reuse.status_code == 400


def test_reset_request_does_not_reveal_whether_an_account_exists(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime)
    known = client.post("/api/auth/password-reset", json={"email": user.email})
    unknown = client.post("/api/auth/password-reset", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202 and known.json() == unknown.json()
    with runtime.db.session() as session:
        assert session.scalars(select(OutgoingEmail.to)).all() == [user.email]


def test_reset_with_a_weak_password_changes_nothing(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime)
    client.post("/api/auth/password-reset", json={"email": user.email})
    token = last_link(runtime, user.email, "/reset-password/confirm")
    assert (
        client.post("/api/auth/password-reset/confirm", json={"token": token, "password": "password1"}).status_code
        == 422
    )
    with_csrf(client)
    assert client.post("/api/auth/login", json={"login": user.username, "password": PASSWORD}).status_code == 200
    # The token was not spent by the failed attempt.
    assert (
        client.post("/api/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}).status_code
        == 200
    )


def test_without_smtp_emails_are_logged_and_listed_for_admins(client: TestClient, runtime: Runtime) -> None:
    from modelyard.accounts.models import Role
    from modelyard.core.jobs import Job
    from modelyard.core.jobs.runner import execute
    from tests.support.factories import create_api_key

    user = create_user(runtime)
    client.post("/api/auth/password-reset", json={"email": user.email})
    with runtime.db.session() as session:
        job_id = session.scalar(select(Job.id).where(Job.name == "mail.deliver"))
    assert job_id is not None
    execute(runtime, job_id)
    admin = create_user(runtime, role=Role.admin)
    key = create_api_key(runtime, admin)
    listed = client.get("/api/admin/emails", headers={"Authorization": f"Bearer {key}"}).json()
    assert listed[0]["to"] == user.email and listed[0]["status"] == "logged"
    assert "/reset-password/confirm?token=" in listed[0]["body"]


def test_reset_mails_to_one_address_are_capped(client: TestClient, runtime: Runtime) -> None:
    from modelyard.accounts.service import RESET_MAILS_PER_HOUR

    user = create_user(runtime)
    for _ in range(RESET_MAILS_PER_HOUR + 3):
        assert client.post("/api/auth/password-reset", json={"email": user.email}).status_code == 202
    with runtime.db.session() as session:
        sent = session.scalars(select(OutgoingEmail).where(OutgoingEmail.to == user.email)).all()
    assert len(sent) == RESET_MAILS_PER_HOUR
