"""The flag JSON API: administrators manage flags, callers read theirs, exposures are counted and stored."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from modelyard.accounts.apikeys import create_key
from modelyard.accounts.models import Role
from modelyard.accounts.service import create_user
from modelyard.core.runtime import Runtime
from modelyard.flags import evaluator_for, service
from modelyard.flags.models import FeatureFlag, FlagExposure

API = "/api/admin/flags"


def make_user(runtime: Runtime, username: str, role: Role = Role.user) -> tuple[int, dict[str, str]]:
    with runtime.db.transaction() as session:
        user = create_user(session, username=username, email=f"{username}@example.com", password=None, role=role)
        key = create_key(session, user, name="t").key
        return user.id, {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin(runtime: Runtime) -> dict[str, str]:
    return make_user(runtime, "flag_admin", Role.admin)[1]


def eventually(check: Callable[[], bool], timeout: float = 1.0) -> bool:
    """Changes reach this process's evaluator through the event bus: at once in process, within a second
    through Redis."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def loaded(runtime: Runtime, *names: str) -> bool:
    return eventually(lambda: all(name in evaluator_for(runtime).snapshot.definitions for name in names))


def stored_flags(runtime: Runtime) -> list[str]:
    with runtime.db.session() as session:
        return list(session.scalars(select(FeatureFlag.name).order_by(FeatureFlag.name)))


def test_admin_creates_a_flag_and_reads_it_back(client: TestClient, admin: dict[str, str]) -> None:
    body = {"name": "new-feed", "enabled": True, "percentage": 20, "roles": ["moderator"]}
    created = client.post(API, json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["source"] == "database"
    fetched = client.get(f"{API}/new-feed", headers=admin).json()
    assert (fetched["enabled"], fetched["percentage"], fetched["roles"]) == (True, 20, ["moderator"])
    assert fetched["updated_by"] is not None
    assert [flag["name"] for flag in client.get(API, headers=admin).json()["flags"]] == ["new-feed"]


def test_a_new_flag_is_off_until_enabled(client: TestClient, admin: dict[str, str]) -> None:
    assert client.post(API, json={"name": "quiet", "everyone": True}, headers=admin).json()["enabled"] is False


def test_patch_changes_only_the_fields_sent(client: TestClient, admin: dict[str, str]) -> None:
    client.post(API, json={"name": "rollout", "enabled": True, "percentage": 5, "user_ids": [3]}, headers=admin)
    patched = client.patch(f"{API}/rollout", json={"percentage": 50}, headers=admin)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["percentage"], patched.json()["user_ids"], patched.json()["enabled"]) == (50, [3], True)


def test_delete_removes_a_database_flag(client: TestClient, admin: dict[str, str], runtime: Runtime) -> None:
    client.post(API, json={"name": "doomed"}, headers=admin)
    assert client.delete(f"{API}/doomed", headers=admin).status_code == 204
    assert stored_flags(runtime) == []
    assert client.get(f"{API}/doomed", headers=admin).status_code == 404


def test_creating_an_existing_name_is_a_conflict(client: TestClient, admin: dict[str, str]) -> None:
    client.post(API, json={"name": "twice"}, headers=admin)
    response = client.post(API, json={"name": "twice", "enabled": True}, headers=admin)
    assert response.status_code == 409
    assert client.get(f"{API}/twice", headers=admin).json()["enabled"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Upper-Case"},
        {"name": "-leading-dash"},
        {"name": "x"},
        {"name": "a" * 65},
        {"name": "ok-name", "percentage": 150},
        {"name": "ok-name", "percentage": -1},
        {"name": "ok-name", "variants": [{"name": "a", "weight": -5}, {"name": "b", "weight": 5}]},
        {"name": "ok-name", "variants": [{"name": "a", "weight": 0}]},
        {"name": "ok-name", "variants": [{"name": "a", "weight": 1}, {"name": "a", "weight": 1}]},
        {"name": "ok-name", "roles": ["superuser"]},
        {"name": "ok-name", "user_ids": [0]},
        {"name": "ok-name", "unknown_field": True},
    ],
    ids=lambda body: ",".join(f"{k}={str(v)[:24]}" for k, v in body.items()),
)
def test_invalid_flag_is_422_and_nothing_is_stored(
    client: TestClient, admin: dict[str, str], runtime: Runtime, body: dict[str, Any]
) -> None:
    response = client.post(API, json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert stored_flags(runtime) == []


@pytest.mark.parametrize(
    "patch", [{"percentage": 150}, {"enabled": None}, {"variants": [{"name": "a", "weight": -1}]}, {"name": "renamed"}]
)
def test_invalid_patch_is_422_and_changes_nothing(
    client: TestClient, admin: dict[str, str], patch: dict[str, Any]
) -> None:
    client.post(API, json={"name": "steady", "enabled": True, "percentage": 10}, headers=admin)
    assert client.patch(f"{API}/steady", json=patch, headers=admin).status_code == 422
    flag = client.get(f"{API}/steady", headers=admin).json()
    assert (flag["name"], flag["enabled"], flag["percentage"], flag["variants"]) == ("steady", True, 10, None)


def test_non_admin_gets_403_from_the_admin_api(client: TestClient, runtime: Runtime) -> None:
    _, moderator = make_user(runtime, "a_moderator", Role.moderator)
    assert client.get(API, headers=moderator).status_code == 403
    assert client.post(API, json={"name": "sneaky"}, headers=moderator).status_code == 403
    assert stored_flags(runtime) == []


def test_anonymous_gets_401_from_the_admin_api(client: TestClient) -> None:
    assert client.get(API).status_code == 401
    assert client.post(API, json={"name": "sneaky"}).status_code == 401


def test_callers_get_the_flags_on_for_them_with_variants(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    user_id, user = make_user(runtime, "plain_user")
    variants = [{"name": "only", "weight": 1}]
    client.post(API, json={"name": "for-me", "enabled": True, "user_ids": [user_id]}, headers=admin)
    client.post(API, json={"name": "ab", "enabled": True, "everyone": True, "variants": variants}, headers=admin)
    client.post(API, json={"name": "not-me", "enabled": True, "roles": ["admin"]}, headers=admin)
    assert loaded(runtime, "for-me", "ab", "not-me")
    assert client.get("/api/flags", headers=user).json() == {"enabled": ["ab", "for-me"], "variants": {"ab": "only"}}


def test_anonymous_callers_get_only_flags_for_everyone(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    client.post(API, json={"name": "public", "enabled": True, "everyone": True}, headers=admin)
    client.post(API, json={"name": "half", "enabled": True, "percentage": 50}, headers=admin)
    assert loaded(runtime, "public", "half")
    assert client.get("/api/flags").json() == {"enabled": ["public"], "variants": {}}


def exposure_rows(runtime: Runtime) -> dict[tuple[str, str], int]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(FlagExposure.flag_name, FlagExposure.variant, func.sum(FlagExposure.count)).group_by(
                FlagExposure.flag_name, FlagExposure.variant
            )
        )
        return {(name, variant): int(count) for name, variant, count in rows}


def test_exposures_are_counted_in_memory_and_added_to_the_database(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    variants = [{"name": "b", "weight": 1}]
    client.post(API, json={"name": "seen", "enabled": True, "everyone": True}, headers=admin)
    client.post(API, json={"name": "ab-test", "enabled": True, "everyone": True, "variants": variants}, headers=admin)
    assert loaded(runtime, "seen", "ab-test")
    for _ in range(3):
        client.get("/api/flags")
    assert exposure_rows(runtime) == {}  # serving flags wrote nothing
    sync = service.flag_sync(runtime)
    assert sync.flush() == 6
    for _ in range(2):
        client.get("/api/flags")
    sync.flush()
    assert exposure_rows(runtime) == {("ab-test", "b"): 5, ("seen", ""): 5}
    listed = {flag["name"]: flag["exposures"] for flag in client.get(API, headers=admin).json()["flags"]}
    assert listed == {"ab-test": [{"variant": "b", "count": 5}], "seen": [{"variant": None, "count": 5}]}


def test_app_shutdown_stores_pending_exposures(app: FastAPI, runtime: Runtime) -> None:
    with TestClient(app) as test_client:
        _, admin = make_user(runtime, "flag_admin2", Role.admin)
        test_client.post(API, json={"name": "last-call", "enabled": True, "everyone": True}, headers=admin)
        assert loaded(runtime, "last-call")
        test_client.get("/api/flags")
    assert exposure_rows(runtime) == {("last-call", ""): 1}


@pytest.fixture
def configured(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """The runtime with flags in its settings (start the client after this, so the app loads them)."""
    flags = {
        "from-config": {"enabled": True, "everyone": True},
        "configured": {"enabled": True, "roles": ["admin"]},
    }
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"feature_flags": flags}))
    return runtime


def test_settings_flag_applies_and_a_database_flag_overrides_it(
    configured: Runtime, client: TestClient, admin: dict[str, str]
) -> None:
    assert evaluator_for(configured).is_enabled("from-config", None)
    assert client.get(f"{API}/from-config", headers=admin).json()["source"] == "settings"
    created = client.post(API, json={"name": "from-config", "enabled": False}, headers=admin).json()
    assert (created["source"], created["overrides_settings"]) == ("database", True)
    assert eventually(lambda: not evaluator_for(configured).is_enabled("from-config", None))
    client.delete(f"{API}/from-config", headers=admin)
    assert eventually(lambda: evaluator_for(configured).is_enabled("from-config", None))


def test_changing_a_settings_flag_creates_an_override_from_its_rules(
    configured: Runtime, client: TestClient, admin: dict[str, str]
) -> None:
    patched = client.patch(f"{API}/configured", json={"percentage": 30}, headers=admin).json()
    assert (patched["source"], patched["roles"], patched["percentage"]) == ("database", ["admin"], 30)
    assert stored_flags(configured) == ["configured"]
