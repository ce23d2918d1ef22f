"""The account pages over HTTP, posted as a browser posts them: the page first (for the CSRF cookie), then the
form with its `csrf_token` field. Administration pages: test_admin_pages.py."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from modelyard.accounts.models import ApiKey, OAuthAccount, Role, User, UserToken
from modelyard.accounts.pages.settings import DELETE_SCOPES, SCOPE_GROUPS
from modelyard.accounts.scopes import TokenScope
from modelyard.core.csrf import CSRF_COOKIE
from modelyard.core.runtime import Runtime
from tests.accounts.test_email_links import NEW_PASSWORD, last_link
from tests.support.factories import PASSWORD, UserFixture, create_user
from tests.web.test_pages import HTML

SESSION = "modelyard_session"


def form(client: TestClient, path: str, data: Mapping[str, str | Sequence[str]] | None = None) -> httpx.Response:
    """Post a form as the browser does, with the token from the CSRF cookie (fetched with the page if missing)."""
    if CSRF_COOKIE not in client.cookies:
        client.get(path.split("?")[0], headers=HTML)
    payload = {**(data or {}), "csrf_token": client.cookies[CSRF_COOKIE]}
    return client.post(path, data=payload, headers=HTML, follow_redirects=False)


def log_in_page(client: TestClient, user: UserFixture) -> TestClient:
    response = form(client, "/login", {"login": user.username, "password": user.password})
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def other_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as second:
        yield second


def stored_user(runtime: Runtime, username: str) -> User | None:
    with runtime.db.session() as session:
        return session.scalar(select(User).where(User.username == username))


def signup_data(**overrides: str) -> dict[str, str]:
    return {"username": "painter", "email": "painter@example.com", "password": PASSWORD, **overrides}


# --- sign-up --------------------------------------------------------------------------------------------------


def test_signup_form_creates_the_account_and_logs_in(client: TestClient, runtime: Runtime) -> None:
    assert 'name="csrf_token"' in client.get("/signup", headers=HTML).text
    response = form(client, "/signup", signup_data())
    assert response.status_code == 303 and response.headers["location"] == "/account?done=welcome"
    page = client.get(response.headers["location"], headers=HTML)
    assert page.status_code == 200
    assert "Account menu for painter" in page.text and "Welcome aboard" in page.text
    assert "Confirm your e-mail address" in page.text
    assert last_link(runtime, "painter@example.com", "/verify-email")


def test_a_form_without_the_csrf_token_is_refused_and_creates_nothing(client: TestClient, runtime: Runtime) -> None:
    client.get("/signup", headers=HTML)
    refused = client.post("/signup", data=signup_data(), headers=HTML, follow_redirects=False)
    assert refused.status_code == 403
    forged = client.post("/signup", data={**signup_data(), "csrf_token": "x" * 43}, headers=HTML)
    assert forged.status_code == 403
    assert stored_user(runtime, "painter") is None


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"username": "x"}, 422, "Usernames are 3 to 39 characters"),
        ({"email": "not-an-address"}, 422, "That is not an e-mail address"),
        ({"password": "short"}, 422, "at least 10 characters"),
        ({"username": "admin"}, 422, "not available"),
    ],
)
def test_bad_signup_input_is_shown_with_the_form(
    client: TestClient, runtime: Runtime, overrides: dict[str, str], status: int, message: str
) -> None:
    data = signup_data(**{"password": "my secret passphrase 9", **overrides})
    response = form(client, "/signup", data)
    assert response.status_code == status and message in response.text
    assert str(data["password"]) not in response.text, "a password is never sent back"
    assert f'value="{data["email"]}"' in response.text, "the rest of the input is kept"
    assert SESSION not in client.cookies and stored_user(runtime, str(data["username"])) is None


def test_a_taken_username_is_a_conflict(client: TestClient, runtime: Runtime) -> None:
    create_user(runtime, username="painter")
    response = form(client, "/signup", signup_data(email="other@example.com"))
    assert response.status_code == 409 and "The username painter is taken" in response.text


def test_closed_signup_shows_no_form(client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"signup_enabled": False}))
    assert "Sign-up is closed" in client.get("/signup", headers=HTML).text
    assert form(client, "/signup", signup_data()).status_code == 403
    assert stored_user(runtime, "painter") is None


# --- log-in and log-out ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("next_path", ["/account/sessions", "/status?refresh=1", "/models/7/some-name"])
def test_login_returns_to_a_same_site_next(client: TestClient, runtime: Runtime, next_path: str) -> None:
    user = create_user(runtime)
    page = client.get("/login", params={"next": next_path}, headers=HTML)
    assert 'name="next"' in page.text
    response = form(client, "/login", {"login": user.username, "password": PASSWORD, "next": next_path})
    assert response.status_code == 303 and response.headers["location"] == next_path


@pytest.mark.parametrize(
    "attack",
    [
        "//evil.com",
        "//evil.com/path",
        "/\\evil.com",
        "\\\\evil.com",
        "https://evil.com",
        "http:evil.com",
        "javascript:alert(1)",
        "/\t/evil.com",
        "/\n/evil.com",
        "evil.com",
        " //evil.com",
        "/login",
    ],
)
def test_login_refuses_to_redirect_off_site(client: TestClient, runtime: Runtime, attack: str) -> None:
    user = create_user(runtime)
    page = client.get("/login", params={"next": attack}, headers=HTML)
    assert "evil" not in page.text
    response = form(client, "/login", {"login": user.username, "password": PASSWORD, "next": attack})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert client.get("/login", params={"next": attack}, follow_redirects=False).headers["location"] == "/"


def test_wrong_password_shows_the_form_again(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime)
    response = form(client, "/login", {"login": user.username, "password": "not my password at all"})
    assert response.status_code == 401 and "Wrong username or password" in response.text
    assert f'value="{user.username}"' in response.text and "not my password at all" not in response.text
    assert SESSION not in client.cookies


def test_banned_user_cannot_log_in(client: TestClient, runtime: Runtime) -> None:
    from modelyard.accounts import moderation

    user = create_user(runtime)
    with runtime.db.transaction() as session:
        moderation.ban(session, None, moderation.get_user(session, user.id), reason="spam")
    response = form(client, "/login", {"login": user.username, "password": PASSWORD})
    assert response.status_code == 403 and "banned" in response.text


def test_repeated_failures_lock_the_account(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"login_lockout_failures": 2}))
    user = create_user(runtime, username="lockme_pages")
    for _ in range(2):
        assert form(client, "/login", {"login": user.username, "password": "wrong guess"}).status_code == 401
    locked = form(client, "/login", {"login": user.username, "password": PASSWORD})
    assert locked.status_code == 429 and "Too many failed log-ins" in locked.text
    assert int(locked.headers["retry-after"]) > 0


def test_logout_form_ends_the_session(client: TestClient, runtime: Runtime) -> None:
    log_in_page(client, create_user(runtime))
    cookie = client.cookies[SESSION]
    response = form(client, "/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login?done=logged-out"
    assert "You have logged out" in client.get(response.headers["location"], headers=HTML).text
    client.cookies.set(SESSION, cookie)
    assert client.get("/api/account").status_code == 401


@pytest.mark.parametrize("path", ["/account", "/account/api-keys", "/admin/users?q=a"])
def test_anonymous_visitors_are_sent_to_log_in(client: TestClient, path: str) -> None:
    response = client.get(path, headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?" + httpx.QueryParams({"next": path}).__str__()


def test_login_page_offers_the_configured_providers(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    providers = {"github": {"client_id": "id", "client_secret": "secret"}}
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"oauth_providers": providers}))
    page = client.get("/login", params={"next": "/account"}, headers=HTML).text
    assert 'href="/auth/oauth/github/start?next=%2Faccount"' in page and "Continue with GitHub" in page


# --- e-mail confirmation and password reset -------------------------------------------------------------------


def test_verify_email_get_does_not_use_the_token_up(client: TestClient, runtime: Runtime) -> None:
    form(client, "/signup", signup_data())
    token = last_link(runtime, "painter@example.com", "/verify-email")
    client.cookies.clear()  # the link works from any browser
    for _ in range(2):  # a mail scanner, then the person
        page = client.get("/verify-email", params={"token": token}, headers=HTML)
        assert page.status_code == 200 and f'value="{token}"' in page.text
    with runtime.db.session() as session:
        assert session.scalar(select(UserToken.used_at)) is None
    response = form(client, "/verify-email", {"token": token})
    assert response.status_code == 303 and response.headers["location"] == "/verify-email?done=email-verified"
    assert "Your e-mail address is confirmed" in client.get(response.headers["location"], headers=HTML).text
    user = stored_user(runtime, "painter")
    assert user is not None and user.email_verified_at is not None
    again = form(client, "/verify-email", {"token": token})
    assert again.status_code == 400 and "used already" in again.text


def test_resend_verification_sends_a_new_link(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime, verified=False)
    log_in_page(client, user)
    response = form(client, "/account/verify-email/resend")
    assert response.headers["location"] == "/account?done=verification-sent"
    assert last_link(runtime, user.email, "/verify-email")


def test_password_reset_through_the_emailed_link(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime)
    known = form(client, "/reset-password", {"email": user.email})
    unknown = form(client, "/reset-password", {"email": "nobody@example.com"})
    assert known.headers["location"] == unknown.headers["location"] == "/reset-password?done=reset-sent"
    token = last_link(runtime, user.email, "/reset-password/confirm")
    page = client.get("/reset-password/confirm", params={"token": token}, headers=HTML)
    assert page.status_code == 200 and f'value="{token}"' in page.text

    mismatch = form(
        client, "/reset-password/confirm", {"token": token, "password": NEW_PASSWORD, "password_again": "x"}
    )
    assert mismatch.status_code == 422 and "not the same" in mismatch.text
    weak = form(client, "/reset-password/confirm", {"token": token, "password": "short", "password_again": "short"})
    assert weak.status_code == 422 and "at least 10 characters" in weak.text
    data = {"token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    done = form(client, "/reset-password/confirm", data)
    assert done.status_code == 303 and done.headers["location"] == "/login?done=password-reset"
    log_in_page(client, UserFixture(user.id, user.username, user.email, NEW_PASSWORD))
    assert form(client, "/reset-password/confirm", data).status_code == 400, "the link works once"


# --- account settings -----------------------------------------------------------------------------------------


def test_profile_update(client: TestClient, runtime: Runtime) -> None:
    log_in_page(client, create_user(runtime))
    links = {"link_label": ["Portfolio", "", ""], "link_url": ["https://art.example.com", "", ""]}
    response = form(client, "/account", {"display_name": "Ada Painter", "bio": "LoRAs of lighthouses", **links})
    assert response.status_code == 303 and response.headers["location"] == "/account?done=profile-saved"
    account = client.get("/api/account").json()
    assert account["display_name"] == "Ada Painter" and account["bio"] == "LoRAs of lighthouses"
    assert account["links"] == [{"label": "Portfolio", "url": "https://art.example.com"}]
    bad = form(client, "/account", {"display_name": "Changed", "link_label": ["x"], "link_url": ["ftp://files"]})
    assert bad.status_code == 422 and "is not an http(s) link" in bad.text and 'value="Changed"' in bad.text
    assert client.get("/api/account").json()["display_name"] == "Ada Painter", "a refused form changes nothing"


def test_password_change_checks_the_current_one_and_ends_other_sessions(
    client: TestClient, other_client: TestClient, runtime: Runtime
) -> None:
    user = create_user(runtime)
    log_in_page(client, user)
    log_in_page(other_client, user)
    new = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    wrong = form(client, "/account/password", {"current_password": "not the password", **new})
    assert wrong.status_code == 403 and "The current password is wrong" in wrong.text
    assert other_client.get("/api/account").status_code == 200
    response = form(client, "/account/password", {"current_password": PASSWORD, **new})
    assert response.status_code == 303 and response.headers["location"] == "/account/password?done=password-changed"
    assert other_client.get("/api/account").status_code == 401, "the other session ended"
    assert client.get("/api/account").status_code == 200, "this one stays"
    log_in_page(other_client, UserFixture(user.id, user.username, user.email, NEW_PASSWORD))


def test_sessions_list_marks_this_browser_and_revokes(
    client: TestClient, other_client: TestClient, runtime: Runtime
) -> None:
    user = create_user(runtime)
    log_in_page(client, user)
    log_in_page(other_client, user)
    page = client.get("/account/sessions", headers=HTML).text
    assert page.count("This browser") == 1
    ids = re.findall(r'action="/account/sessions/(\d+)/revoke"', page)
    assert len(ids) == 1, "only the other session has a log-out button"
    response = form(client, f"/account/sessions/{ids[0]}/revoke")
    assert response.headers["location"] == "/account/sessions?done=session-revoked"
    assert other_client.get("/api/account").status_code == 401
    log_in_page(other_client, user)
    assert form(client, "/account/sessions/revoke-others").headers["location"].endswith("done=sessions-revoked")
    assert other_client.get("/api/account").status_code == 401 and client.get("/api/account").status_code == 200


def test_api_key_is_shown_once_and_can_be_revoked(client: TestClient, runtime: Runtime) -> None:
    log_in_page(client, create_user(runtime))
    data = {"name": "ComfyUI", "access": "custom", "scopes": ["ModelsRead", "UserRead"], "expires": "30", "buzz": "50"}
    created = form(client, "/account/api-keys", data)
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    key = re.search(r'id="new-key" value="([0-9a-f]{32})"', created.text)
    assert key is not None and "only time it is shown" in created.text
    as_key = {"Authorization": f"Bearer {key.group(1)}"}
    assert client.get("/api/account", headers=as_key).status_code == 200
    listing = client.get("/account/api-keys", headers=HTML).text
    assert "ComfyUI" in listing and key.group(1) not in listing and "50 Buzz / day" in listing
    key_id = re.search(r'action="/account/api-keys/(\d+)/revoke"', listing)
    assert key_id is not None
    assert form(client, f"/account/api-keys/{key_id.group(1)}/revoke").status_code == 303
    assert client.get("/api/account", headers=as_key).status_code == 401


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "access": "full"}, "needs a name"),
        ({"name": "k", "access": "custom"}, "Pick at least one permission"),
        ({"name": "k", "access": "custom", "scopes": ["Nope"]}, "unknown scope"),
        ({"name": "k", "access": "full", "buzz": "lots"}, "must be a whole number"),
    ],
)
def test_bad_api_key_requests_create_nothing(
    client: TestClient, runtime: Runtime, data: dict[str, str], message: str
) -> None:
    log_in_page(client, create_user(runtime))
    response = form(client, "/account/api-keys", data)
    assert response.status_code == 422 and message in response.text
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0


def test_the_key_form_knows_every_scope_once() -> None:
    known = [scope for _, _, scopes in SCOPE_GROUPS for scope, _ in scopes] + [scope for _, scope, _ in DELETE_SCOPES]
    assert sorted(known) == sorted(TokenScope) and len(known) == len(set(known))


def test_the_key_form_offers_only_what_this_server_can_do(client: TestClient, runtime: Runtime) -> None:
    """Models and images are here, so their permissions are offered; generation, Buzz and the rest are not (yet),
    so a user is not invited to grant a key powers nothing here uses."""
    log_in_page(client, create_user(runtime))
    page = client.get("/account/api-keys", headers=HTML).text
    for here in ("ModelsWrite", "MediaWrite", "ModelsDelete", "UserRead"):
        assert f'value="{here}"' in page
    for missing in ("AIServicesWrite", "BuzzRead", "ArticlesWrite", "SocialTip", "VaultRead", "BountiesDelete"):
        assert f'value="{missing}"' not in page


def test_linked_sign_ins_are_listed(client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    providers = {name: {"client_id": "id", "client_secret": "s"} for name in ("github", "google")}
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"oauth_providers": providers}))
    user = create_user(runtime)
    with runtime.db.transaction() as session:
        session.add(OAuthAccount(provider="github", subject="42", user_id=user.id, email="gh@example.com"))
    log_in_page(client, user)
    page = client.get("/account/linked", headers=HTML).text
    assert "GitHub" in page and "gh@example.com" in page
    assert "/auth/oauth/google/start?next=%2Faccount%2Flinked" in page and "/auth/oauth/github/start" not in page


# --- the header -----------------------------------------------------------------------------------------------


def test_header_offers_log_in_and_sign_up_to_visitors(client: TestClient) -> None:
    page = client.get("/status", headers=HTML).text
    assert 'href="/login?next=%2Fstatus"' in page and 'href="/signup"' in page and "account-menu" not in page
    token = client.cookies[CSRF_COOKIE]
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page, "htmx requests carry the CSRF token"


@pytest.mark.parametrize(("role", "sees_admin"), [(Role.user, False), (Role.moderator, True), (Role.admin, True)])
def test_header_menu_for_a_logged_in_user(client: TestClient, runtime: Runtime, role: Role, sees_admin: bool) -> None:
    user = create_user(runtime, role=role)
    log_in_page(client, user)
    page = client.get("/", headers=HTML).text  # a page that does not look the user up itself
    assert f"Account menu for {user.username}" in page and 'action="/logout"' in page
    assert 'href="/signup"' not in page
    assert ('href="/admin"' in page) is sees_admin
