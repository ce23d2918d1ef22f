from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from modelyard.accounts.models import AuthSession, User
from modelyard.core.csrf import CSRF_COOKIE
from modelyard.core.runtime import Runtime
from modelyard.mail.models import OutgoingEmail
from tests.support.factories import PASSWORD, create_user, log_in, with_csrf


def count_users(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def sign_up(client: TestClient, **fields: str):  # type: ignore[no-untyped-def]
    body = {"username": "newbie", "email": "newbie@example.com", "password": PASSWORD, **fields}
    return client.post("/api/auth/signup", json=body)


class TestSignUp:
    def test_sign_up_creates_the_account_logs_in_and_sends_a_link(self, client: TestClient, runtime: Runtime) -> None:
        response = sign_up(client)
        assert response.status_code == 201, response.text
        assert response.json()["username"] == "newbie" and response.json()["email_verified"] is False
        cookie = response.headers.get_list("set-cookie")
        session_cookie = next(c for c in cookie if c.startswith("modelyard_session="))
        assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
        assert "Secure" not in session_cookie  # http in tests; https sets it (see test_cookies_are_secure...)
        with runtime.db.session() as session:
            email = session.scalar(select(OutgoingEmail))
        assert email is not None and email.to == "newbie@example.com" and "/verify-email?token=" in email.body

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"username": "ab"}, "3 to 39"),
            ({"username": "x" * 40}, "3 to 39"),
            ({"username": "bad name"}, "3 to 39"),
            ({"username": "\u0430lice"}, "3 to 39"),  # Cyrillic a: a look-alike of "alice"
            ({"username": "Admin"}, "not available"),
            ({"email": "not-an-email"}, "e-mail"),
            ({"password": "short"}, "at least"),
            ({"password": "Password123!"}, "attackers try"),
            ({"password": "1234567890"}, "attackers try"),
            ({"password": "newbie-is-my-name"}, "username"),
            ({"password": "aaaaaaaaaaaa"}, "repeats"),
            ({"password": "p" * 300}, "at most"),
        ],
    )
    def test_bad_sign_up_is_refused_and_changes_nothing(
        self, client: TestClient, runtime: Runtime, fields: dict[str, str], message: str
    ) -> None:
        response = sign_up(client, **fields)
        assert response.status_code == 422, response.text
        assert message in response.json()["detail"]
        assert count_users(runtime) == 0

    def test_oversized_fields_are_refused(self, client: TestClient, runtime: Runtime) -> None:
        response = sign_up(client, email="a" * 5000 + "@example.com")
        assert response.status_code == 422
        assert count_users(runtime) == 0

    @pytest.mark.parametrize("taken", ["NEWBIE", "Newbie", "newbie"])
    def test_usernames_are_unique_whatever_the_case(self, client: TestClient, runtime: Runtime, taken: str) -> None:
        create_user(runtime, username="newbie")
        response = sign_up(client, username=taken, email="other@example.com")
        assert response.status_code == 409 and "taken" in response.json()["detail"]
        assert count_users(runtime) == 1

    def test_emails_are_unique_whatever_the_case(self, client: TestClient, runtime: Runtime) -> None:
        create_user(runtime, username="first")
        assert sign_up(client, email="FIRST@Example.com").status_code == 409

    def test_closed_sign_up_is_refused(self, client: TestClient, runtime: Runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"signup_enabled": False}))
        assert sign_up(client).status_code == 403
        assert count_users(runtime) == 0


class TestLogIn:
    def test_log_in_by_username_or_email(self, client: TestClient, runtime: Runtime) -> None:
        user = create_user(runtime)
        with_csrf(client)
        for login in (user.username.upper(), user.email.upper()):
            response = client.post("/api/auth/login", json={"login": login, "password": user.password})
            assert response.status_code == 200, response.text

    def test_wrong_password_and_unknown_user_get_the_same_answer(self, client: TestClient, runtime: Runtime) -> None:
        user = create_user(runtime)
        wrong = client.post("/api/auth/login", json={"login": user.username, "password": "not it at all"})
        unknown = client.post("/api/auth/login", json={"login": "nobody", "password": "not it at all"})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()

    def test_log_in_always_issues_a_new_session_token(self, client: TestClient, runtime: Runtime) -> None:
        """Session fixation: a token planted before log-in is never the one that gets logged in."""
        user = create_user(runtime)
        client.cookies.set("modelyard_session", "planted-by-attacker", domain="testserver.local")
        log_in(client, user)
        assert client.cookies["modelyard_session"] != "planted-by-attacker"
        assert client.get("/api/account").json()["username"] == user.username
        client.cookies.clear()
        client.cookies.set("modelyard_session", "planted-by-attacker")
        assert client.get("/api/account").status_code == 401

    def test_logging_in_again_revokes_the_previous_session(self, client: TestClient, runtime: Runtime) -> None:
        user = create_user(runtime)
        log_in(client, user)
        first = client.cookies["modelyard_session"]
        log_in(client, user)
        client.cookies.set("modelyard_session", first)
        assert client.get("/api/account").status_code == 401

    def test_log_out_ends_the_session(self, client: TestClient, runtime: Runtime) -> None:
        user = create_user(runtime)
        log_in(client, user)
        token = client.cookies["modelyard_session"]
        assert client.post("/api/auth/logout").status_code == 204
        client.cookies.set("modelyard_session", token)
        assert client.get("/api/account").status_code == 401

    def test_tampered_session_cookie_is_refused(self, client: TestClient, runtime: Runtime) -> None:
        user = create_user(runtime)
        log_in(client, user)
        client.cookies.set("modelyard_session", client.cookies["modelyard_session"][:-2] + "xx")
        response = client.get("/api/account")
        assert response.status_code == 401 and "log in again" in response.json()["detail"]

    def test_expired_session_is_refused(self, client: TestClient, runtime: Runtime) -> None:
        from datetime import timedelta

        from modelyard.core.db import utcnow

        user = create_user(runtime)
        log_in(client, user)
        with runtime.db.transaction() as session:
            for record in session.scalars(select(AuthSession)):
                record.expires_at = utcnow() - timedelta(seconds=1)
        assert client.get("/api/account").status_code == 401


class TestCsrf:
    def test_logged_in_write_without_token_is_refused(self, client: TestClient, runtime: Runtime) -> None:
        user = create_user(runtime)
        log_in(client, user)
        del client.headers["x-csrf-token"]
        response = client.patch("/api/account", json={"display_name": "Mallory was here"})
        assert response.status_code == 403 and response.json()["error"] == "csrf_failed"
        with runtime.db.session() as session:
            assert session.get(User, user.id).display_name is None  # type: ignore[union-attr]

    def test_logged_in_write_with_a_wrong_token_is_refused(self, client: TestClient, runtime: Runtime) -> None:
        log_in(client, create_user(runtime))
        client.headers["x-csrf-token"] = "x" * 43
        assert client.patch("/api/account", json={"display_name": "x"}).status_code == 403

    def test_logged_in_write_with_the_token_works(self, client: TestClient, runtime: Runtime) -> None:
        log_in(client, create_user(runtime))
        assert client.patch("/api/account", json={"display_name": "Me"}).json()["display_name"] == "Me"

    def test_cross_site_login_form_is_refused(self, client: TestClient, runtime: Runtime) -> None:
        """Login CSRF: a form on another site posting the attacker's credentials."""
        user = create_user(runtime)
        response = client.post("/api/auth/login", data={"login": user.username, "password": user.password})
        assert response.status_code == 403
        assert "modelyard_session" not in client.cookies

    def test_form_with_the_token_passes_the_check(self, client: TestClient) -> None:
        client.get("/")
        token = client.cookies[CSRF_COOKIE]
        response = client.post("/api/auth/password-reset", data={"email": "a@example.com", "csrf_token": token})
        assert response.status_code != 403  # (this JSON endpoint then rejects the form body: 422)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)


def test_api_responses_set_no_csrf_cookie_and_pages_do(client: TestClient) -> None:
    assert CSRF_COOKIE not in client.get("/healthz").cookies
    assert CSRF_COOKIE not in client.get("/api/users/nobody").cookies
    page = client.get("/", headers={"accept": "text/html"})
    assert CSRF_COOKIE in page.cookies
    assert CSRF_COOKIE not in client.get("/").cookies  # set once, not on every page
