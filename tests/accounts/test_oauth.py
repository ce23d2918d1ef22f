"""OpenID Connect log-in end to end, against a real provider process on loopback (tests/support/oidc_provider)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from modelyard.accounts import oauth
from modelyard.accounts.models import OAuthAccount, User
from modelyard.core.runtime import Runtime
from modelyard.core.settings import Settings
from tests.support.factories import create_user, log_in
from tests.support.oidc_provider import ProviderProcess


@pytest.fixture
def provider(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderProcess]:
    with ProviderProcess() as running:
        monkeypatch.setattr(
            runtime,
            "settings",
            runtime.settings.model_copy(update={"oauth_providers": {"test": running.settings_entry()}}),
        )
        yield running


def sign_in(client: TestClient, *, next_path: str = "/status") -> httpx.Response:
    start = client.get(f"/auth/oauth/test/start?next={next_path}", follow_redirects=False)
    assert start.status_code == 303, start.text
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302, at_provider.text
    return client.get(at_provider.headers["location"], follow_redirects=False)


def users(runtime: Runtime) -> list[User]:
    with runtime.db.session() as session:
        return list(session.scalars(select(User)))


def test_first_sign_in_creates_a_verified_account_and_logs_in(
    client: TestClient, runtime: Runtime, provider: ProviderProcess
) -> None:
    response = sign_in(client)
    assert response.status_code == 303 and response.headers["location"] == "/status"
    account = client.get("/api/account").json()
    assert account["username"] == "alice" and account["email"] == "alice@idp.example"
    assert account["email_verified"] is True and account["has_password"] is False
    with runtime.db.session() as session:
        link = session.scalar(select(OAuthAccount))
    assert link is not None and (link.provider, link.subject) == ("test", "alice-1")


def test_next_sign_in_finds_the_same_account(client: TestClient, runtime: Runtime, provider: ProviderProcess) -> None:
    sign_in(client)
    client.cookies.clear()
    sign_in(client)
    assert len(users(runtime)) == 1
    assert client.get("/api/account").json()["username"] == "alice"


def test_existing_verified_account_with_the_same_address_is_linked(
    client: TestClient, runtime: Runtime, provider: ProviderProcess
) -> None:
    local = create_user(runtime, username="alice_local", verified=True)
    provider.set_user(email=local.email)
    sign_in(client)
    assert client.get("/api/account").json()["username"] == "alice_local"
    assert len(users(runtime)) == 1


def test_unverified_account_with_the_same_address_is_not_taken_over(
    client: TestClient, runtime: Runtime, provider: ProviderProcess
) -> None:
    local = create_user(runtime, username="squatter", verified=False)
    provider.set_user(email=local.email)
    response = sign_in(client)
    assert response.status_code == 409 and "link this sign-in" in response.json()["detail"]
    assert "modelyard_session" not in client.cookies
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(OAuthAccount)) == 0


def test_logged_in_user_links_a_provider_account(
    client: TestClient, runtime: Runtime, provider: ProviderProcess
) -> None:
    me = create_user(runtime)
    log_in(client, me)
    session_cookie = client.cookies["modelyard_session"]
    response = sign_in(client, next_path="/account/linked")
    assert response.status_code == 303 and response.headers["location"] == "/account/linked"
    assert client.cookies["modelyard_session"] == session_cookie
    with runtime.db.session() as session:
        link = session.scalar(select(OAuthAccount))
    assert link is not None and link.user_id == me.id


def test_forged_state_logs_nobody_in(client: TestClient, runtime: Runtime, provider: ProviderProcess) -> None:
    start = client.get("/auth/oauth/test/start", follow_redirects=False)
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    forged = at_provider.headers["location"].replace("state=", "state=forged")
    response = client.get(forged, follow_redirects=False)
    assert response.status_code == 400
    assert users(runtime) == []


def test_callback_without_the_state_cookie_is_refused(
    client: TestClient, runtime: Runtime, provider: ProviderProcess
) -> None:
    start = client.get("/auth/oauth/test/start", follow_redirects=False)
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    client.cookies.delete("modelyard_oauth")
    assert client.get(at_provider.headers["location"], follow_redirects=False).status_code == 400
    assert users(runtime) == []


def test_tampered_id_token_is_refused(client: TestClient, runtime: Runtime, provider: ProviderProcess) -> None:
    provider.tamper_id_tokens()
    response = sign_in(client)
    assert response.status_code == 400 and "ID token" in response.json()["detail"]
    assert users(runtime) == []


def test_a_code_works_once(client: TestClient, runtime: Runtime, provider: ProviderProcess) -> None:
    start = client.get("/auth/oauth/test/start", follow_redirects=False)
    callback = httpx.get(start.headers["location"], follow_redirects=False).headers["location"]
    state_cookie = client.cookies["modelyard_oauth"]
    assert client.get(callback, follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set("modelyard_oauth", state_cookie)
    assert client.get(callback, follow_redirects=False).status_code == 400


def test_banned_user_cannot_sign_in_through_a_provider(
    client: TestClient, runtime: Runtime, provider: ProviderProcess
) -> None:
    from modelyard.accounts import moderation

    sign_in(client)
    with runtime.db.transaction() as session:
        user = session.scalar(select(User))
        assert user is not None
        moderation.ban(session, None, user, reason="abuse")
    client.cookies.clear()
    assert sign_in(client).status_code == 403


def test_unknown_provider_is_404(client: TestClient) -> None:
    assert client.get("/auth/oauth/nope/start", follow_redirects=False).status_code == 404


def test_presets_need_only_credentials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        data_dir=tmp_path,
        oauth_providers={
            "google": {"client_id": "g", "client_secret": "s"},
            "github": {"client_id": "h", "client_secret": "s"},
            "discord": {"client_id": "d", "client_secret": "s"},
        },
    )
    providers = {p.name: p for p in oauth.configured_providers(settings)}
    assert providers["google"].is_oidc and providers["google"].label == "Google"
    assert not providers["github"].is_oidc and providers["github"].emails_url
    assert providers["discord"].userinfo_url == "https://discord.com/api/users/@me"
    with pytest.raises(ValueError, match="client_id"):
        oauth.configured_providers(Settings(data_dir=tmp_path, oauth_providers={"google": {}}))


def test_linked_sign_in_can_be_unlinked_unless_it_is_the_only_way_in(
    client: TestClient, runtime: Runtime, provider: ProviderProcess
) -> None:
    from tests.support.factories import with_csrf

    sign_in(client)  # an account with no password: the provider is its only way in
    with_csrf(client)
    link_id = client.get("/api/account/linked").json()[0]["id"]
    refused = client.delete(f"/api/account/linked/{link_id}")
    assert refused.status_code == 409 and "set a password first" in refused.json()["detail"]
    assert client.post("/api/account/password", json={"new_password": "a brand new long passphrase"}).status_code == 204
    assert client.delete(f"/api/account/linked/{link_id}").status_code == 204
    assert client.get("/api/account/linked").json() == []
