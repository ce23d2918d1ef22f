from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from modelyard.accounts import moderation, policy
from modelyard.accounts.auth import Principal
from modelyard.accounts.models import ModerationAction, Role, User
from modelyard.core.runtime import Runtime
from tests.support.factories import create_api_key, create_user, log_in


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_ban_ends_sessions_stops_keys_blocks_log_in_and_runs_hooks(client: TestClient, runtime: Runtime) -> None:
    moderator = create_user(runtime, role=Role.moderator)
    target = create_user(runtime)
    target_key = create_api_key(runtime, target)
    log_in(client, target)
    cookie = client.cookies["modelyard_session"]
    seen: list[tuple[str, str]] = []
    hook = moderation.on_user_banned(lambda session, user, actor, reason: seen.append((user.username, reason)))
    try:
        response = client.post(
            f"/api/admin/users/{target.id}/ban",
            headers=bearer(create_api_key(runtime, moderator)),
            json={"reason": "spam"},
        )
    finally:
        moderation._ban_hooks.remove(hook)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "banned"
    assert seen == [(target.username, "spam")]
    assert client.get("/api/account", headers=bearer(target_key)).status_code == 401
    client.cookies.set("modelyard_session", cookie)
    assert client.get("/api/account").status_code == 401
    relogin = client.post("/api/auth/login", json={"login": target.username, "password": target.password})
    assert relogin.status_code == 403 and "banned" in relogin.json()["detail"]
    with runtime.db.session() as session:
        action = session.scalar(select(ModerationAction))
    assert action is not None and action.actor_id == moderator.id and action.reason == "spam"


def test_ban_needs_a_reason_and_changes_nothing_without(client: TestClient, runtime: Runtime) -> None:
    moderator_key = create_api_key(runtime, create_user(runtime, role=Role.moderator))
    target = create_user(runtime)
    response = client.post(f"/api/admin/users/{target.id}/ban", headers=bearer(moderator_key), json={})
    assert response.status_code == 422
    with runtime.db.session() as session:
        assert session.get(User, target.id).banned_at is None  # type: ignore[union-attr]


def test_unban_restores_log_in(client: TestClient, runtime: Runtime) -> None:
    moderator_key = create_api_key(runtime, create_user(runtime, role=Role.moderator))
    target = create_user(runtime)
    client.post(f"/api/admin/users/{target.id}/ban", headers=bearer(moderator_key), json={"reason": "mistake"})
    assert client.post(f"/api/admin/users/{target.id}/unban", headers=bearer(moderator_key), json={}).status_code == 200
    assert (
        client.post("/api/auth/login", json={"login": target.username, "password": target.password}).status_code == 200
    )


def test_muted_user_may_read_but_not_post(runtime: Runtime) -> None:
    target = create_user(runtime)
    with runtime.db.transaction() as session:
        user = session.get(User, target.id)
        assert user is not None
        moderation.mute(session, None, user, reason="flooding comments")
        assert not policy.can_post(user)
        principal = Principal(user=user)
        import pytest

        from modelyard.core.errors import Forbidden

        with pytest.raises(Forbidden, match="muted"):
            policy.require_can_post(principal)


def test_a_muted_user_cannot_change_their_public_profile_text(client: TestClient, runtime: Runtime) -> None:
    """Muted users read but do not post: a bio, links and a display name are text others read."""
    target = create_user(runtime)
    with runtime.db.transaction() as session:
        user = session.get(User, target.id)
        assert user is not None
        user.bio, user.display_name = "Before", "Before"
        moderation.mute(session, None, user, reason="spam links")
    log_in(client, target)
    for change in (
        {"bio": "Buy now at spam.example"},
        {"links": [{"label": "shop", "url": "https://spam.example"}]},
        {"display_name": "Spam Shop"},
    ):
        response = client.patch("/api/account", json=change)
        assert response.status_code == 403 and "muted" in response.json()["detail"], change
    page = client.post("/account", data={"display_name": "Before", "bio": "Spam", "link_label": [], "link_url": []})
    assert page.status_code == 403
    unchanged = client.patch("/api/account", json={"bio": "Before", "display_name": "Before", "links": []})
    assert unchanged.status_code == 200  # saving the form as it is changes nothing, and is no post
    with runtime.db.session() as session:
        stored = session.get(User, target.id)
        assert stored is not None and (stored.bio, stored.display_name, stored.links) == ("Before", "Before", [])


def test_users_cannot_moderate_and_moderators_cannot_touch_admins(client: TestClient, runtime: Runtime) -> None:
    plain_key = create_api_key(runtime, create_user(runtime))
    moderator_key = create_api_key(runtime, create_user(runtime, role=Role.moderator))
    admin = create_user(runtime, role=Role.admin)
    target = create_user(runtime)
    assert (
        client.post(f"/api/admin/users/{target.id}/mute", headers=bearer(plain_key), json={"reason": "x"}).status_code
        == 403
    )
    assert (
        client.post(f"/api/admin/users/{admin.id}/ban", headers=bearer(moderator_key), json={"reason": "x"}).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/admin/users/{target.id}/role", headers=bearer(moderator_key), json={"role": "admin"}
        ).status_code
        == 403
    )
    assert client.get("/api/admin/users").status_code == 401


def test_role_change_is_recorded_and_rotates_the_users_sessions(client: TestClient, runtime: Runtime) -> None:
    admin_key = create_api_key(runtime, create_user(runtime, role=Role.admin))
    target = create_user(runtime)
    log_in(client, target)
    before = client.cookies["modelyard_session"]
    response = client.post(
        f"/api/admin/users/{target.id}/role", headers=bearer(admin_key), json={"role": "moderator", "reason": "trusted"}
    )
    assert response.status_code == 200 and response.json()["role"] == "moderator"
    assert client.get("/api/account").json()["role"] == "moderator"  # this request swaps the token
    after = client.cookies["modelyard_session"]
    assert after != before
    client.cookies.set("modelyard_session", before)
    assert client.get("/api/account").status_code == 401
    detail = client.get(f"/api/admin/users/{target.id}", headers=bearer(admin_key)).json()
    assert detail["history"][0]["detail"] == {"from": "user", "to": "moderator"}


def test_a_narrow_key_of_a_moderator_carries_no_staff_powers(client: TestClient, runtime: Runtime) -> None:
    from modelyard.accounts.scopes import TokenScope

    moderator = create_user(runtime, role=Role.moderator)
    narrow = create_api_key(runtime, moderator, scopes=TokenScope.ModelsRead)
    target = create_user(runtime)
    response = client.post(f"/api/admin/users/{target.id}/ban", headers=bearer(narrow), json={"reason": "x"})
    assert response.status_code == 403 and "Full scope" in response.json()["detail"]
    with runtime.db.session() as session:
        assert session.get(User, target.id).banned_at is None  # type: ignore[union-attr]


def test_role_change_with_an_oversized_reason_changes_nothing(client: TestClient, runtime: Runtime) -> None:
    admin_key = create_api_key(runtime, create_user(runtime, role=Role.admin))
    target = create_user(runtime)
    response = client.post(
        f"/api/admin/users/{target.id}/role",
        headers=bearer(admin_key),
        json={"role": "moderator", "reason": "x" * 5000},
    )
    assert response.status_code == 422
    with runtime.db.session() as session:
        assert session.get(User, target.id).role == Role.user  # type: ignore[union-attr]


def test_user_search_matches_underscores_literally(runtime: Runtime) -> None:
    create_user(runtime, username="night_owl")
    create_user(runtime, username="nightXowl")
    with runtime.db.session() as session:
        assert [u.username for u in moderation.search_users(session, query="night_o")] == ["night_owl"]
        assert [u.username for u in moderation.search_users(session, query="T_OWL")] == ["night_owl"]
