from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from modelyard.accounts.models import ApiKey
from modelyard.accounts.scopes import TokenScope
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from tests.support.factories import create_api_key, create_user, log_in


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_created_key_is_32_hex_shown_once_and_stored_hashed(client: TestClient, runtime: Runtime) -> None:
    log_in(client, create_user(runtime))
    created = client.post("/api/account/api-keys", json={"name": "downloader", "scopes": ["ModelsRead"]})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert len(key) == 32 and int(key, 16) >= 0
    assert created.json()["scopes"] == ["ModelsRead"] and created.json()["scope_bits"] == 4
    listed = client.get("/api/account/api-keys").json()
    assert "key" not in listed[0]
    with runtime.db.session() as session:
        stored = session.scalar(select(ApiKey.key_hash))
    assert stored is not None and key not in stored and len(stored) == 128


@pytest.mark.parametrize("send", ["header", "query", "lowercase-scheme", "other-scheme"])
def test_key_is_accepted_where_civitai_accepts_it(client: TestClient, runtime: Runtime, send: str) -> None:
    user = create_user(runtime)
    key = create_api_key(runtime, user)
    request = {
        "header": lambda: client.get("/api/account", headers=bearer(key)),
        "query": lambda: client.get(f"/api/account?token={key}"),
        "lowercase-scheme": lambda: client.get("/api/account", headers={"authorization": f"bearer {key}"}),
        "other-scheme": lambda: client.get("/api/account", headers={"Authorization": f"Token {key}"}),
    }[send]
    response = request()
    assert response.status_code == 200 and response.json()["username"] == user.username


@pytest.mark.parametrize("placeholder", ["Bearer None", "Bearer null", "Bearer", "Bearer undefined"])
def test_placeholder_credentials_count_as_anonymous(client: TestClient, runtime: Runtime, placeholder: str) -> None:
    create_user(runtime, username="someone")
    assert client.get("/api/users/someone", headers={"Authorization": placeholder}).status_code == 200
    assert client.get("/api/account", headers={"Authorization": placeholder}).status_code == 401
    assert client.get("/api/users/someone?token=").status_code == 200


def test_invalid_key_is_ignored_on_public_endpoints_and_refused_elsewhere(client: TestClient, runtime: Runtime) -> None:
    create_user(runtime, username="someone")
    dummy = bearer("0" * 32)
    assert client.get("/api/users/someone", headers=dummy).status_code == 200
    response = client.get("/api/account", headers=dummy)
    assert response.status_code == 401 and "not valid" in response.json()["detail"]


def test_key_can_only_do_what_its_scopes_allow(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime)
    key = create_api_key(runtime, user, scopes=TokenScope.UserRead)
    assert client.get("/api/account", headers=bearer(key)).status_code == 200
    response = client.patch("/api/account", headers=bearer(key), json={"display_name": "changed"})
    assert response.status_code == 403
    assert response.json()["missing_scopes"] == ["UserWrite"]
    assert client.get("/api/account", headers=bearer(key)).json()["display_name"] is None


def test_a_key_cannot_mint_a_broader_key(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime)
    key = create_api_key(runtime, user, scopes=TokenScope.UserRead | TokenScope.UserWrite)
    response = client.post("/api/account/api-keys", headers=bearer(key), json={"name": "x", "scopes": ["Full"]})
    assert response.status_code == 422
    assert len(client.get("/api/account/api-keys", headers=bearer(key)).json()) == 1


def test_expired_key_is_refused(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime)
    key = create_api_key(runtime, user, expires_in_days=1)
    with runtime.db.transaction() as session:
        session.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = client.get("/api/account", headers=bearer(key))
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_revoked_key_stops_working_at_once(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime)
    key = create_api_key(runtime, user)
    key_id = client.get("/api/account/api-keys", headers=bearer(key)).json()[0]["id"]
    assert client.delete(f"/api/account/api-keys/{key_id}", headers=bearer(key)).status_code == 204
    response = client.get("/api/account", headers=bearer(key))
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_another_users_key_cannot_be_revoked(client: TestClient, runtime: Runtime) -> None:
    owner_key = create_api_key(runtime, create_user(runtime))
    owner_key_id = client.get("/api/account/api-keys", headers=bearer(owner_key)).json()[0]["id"]
    intruder_key = create_api_key(runtime, create_user(runtime))
    assert client.delete(f"/api/account/api-keys/{owner_key_id}", headers=bearer(intruder_key)).status_code == 404
    assert client.get("/api/account", headers=bearer(owner_key)).status_code == 200


def test_last_used_is_tracked(client: TestClient, runtime: Runtime) -> None:
    key = create_api_key(runtime, create_user(runtime))
    client.get("/api/account", headers=bearer(key))
    with runtime.db.session() as session:
        assert session.scalar(select(ApiKey.last_used_at)) is not None


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 101},
        {"name": "x", "scopes": ["Nope"]},
        {"name": "x", "scopes": 1 << 30},
        {"name": "x", "expires_in_days": 0},
        {"name": "x", "buzz_limit": {"limit": -5}},
        {"name": "x", "buzz_limit": {"limit": 5, "period": "century"}},
    ],
)
def test_bad_key_requests_are_refused_and_create_nothing(client: TestClient, runtime: Runtime, body: dict) -> None:  # type: ignore[type-arg]
    log_in(client, create_user(runtime))
    assert client.post("/api/account/api-keys", json=body).status_code == 422
    assert client.get("/api/account/api-keys").json() == []


def test_cli_creates_a_key_and_prints_it_alone(runtime: Runtime) -> None:
    from tests.core.test_cli import run_cli

    user = create_user(runtime)
    result = run_cli(
        "apikey", "create", user.username, "--name", "script", "--scopes", "ModelsRead,UserRead", "--expires", "30"
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert len(result.stdout.splitlines()) == 1 and len(key) == 32
    with runtime.db.session() as session:
        record = session.scalar(select(ApiKey))
    assert record is not None and record.scopes == int(TokenScope.ModelsRead | TokenScope.UserRead)
    assert record.expires_at is not None


def test_cli_creates_a_user_with_a_role(runtime: Runtime) -> None:
    from modelyard.accounts.models import Role
    from modelyard.accounts.service import get_by_username
    from tests.core.test_cli import run_cli

    result = run_cli(
        "user",
        "create",
        "opsbot",
        "--email",
        "ops@example.com",
        "--password",
        "a long passphrase ok",
        "--role",
        "moderator",
    )
    assert result.returncode == 0, result.stderr
    with runtime.db.session() as session:
        assert get_by_username(session, "opsbot").role == Role.moderator
    bad = run_cli("apikey", "create", "opsbot", "--name", "x", "--scopes", "Everything")
    assert bad.returncode != 0 and "unknown scope" in bad.stderr
