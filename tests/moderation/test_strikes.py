"""Strikes add up to restrictions at the thresholds in settings (uploads paused, then a mute), and stop counting
when they expire: the restrictions they brought are lifted then."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from modelyard.accounts import moderation as account_moderation
from modelyard.accounts.models import Role, User
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from modelyard.images.models import Post
from modelyard.moderation import strikes
from modelyard.moderation.models import Strike
from modelyard.moderation.tasks import expire_strikes
from tests.moderation.world import configure, log_actions, mails_to, webp
from tests.support.factories import UserFixture, create_user, log_in


def strike(runtime: Runtime, user: UserFixture, points: int, *, by: UserFixture | None = None) -> None:
    with runtime.db.transaction() as session:
        target = session.get(User, user.id)
        actor = session.get(User, by.id) if by else None
        assert target is not None
        strikes.give_strike(session, actor, target, reason="Rule 3", points=points)


def fetch(runtime: Runtime, user: UserFixture) -> User:
    with runtime.db.session() as session:
        found = session.get(User, user.id)
        assert found is not None
        session.expunge(found)
        return found


def age_strikes(runtime: Runtime, user: UserFixture, days: int) -> None:
    """Move the user's strikes `days` into the past, as if that time had gone by."""
    with runtime.db.transaction() as session:
        for found in session.scalars(select(Strike).where(Strike.user_id == user.id)):
            found.expires_at -= timedelta(days=days)
            found.created_at -= timedelta(days=days)


@pytest.fixture(autouse=True)
def thresholds(monkeypatch: pytest.MonkeyPatch, runtime: Runtime) -> None:
    configure(monkeypatch, runtime, strike_points_pause_uploads=3, strike_points_mute=5, strike_expiry_days=30)


def test_points_below_the_threshold_restrict_nothing(runtime: Runtime) -> None:
    user = create_user(runtime)
    strike(runtime, user, 2)
    found = fetch(runtime, user)
    assert found.uploads_paused_until is None and not found.is_muted


def test_the_pause_threshold_pauses_uploads_until_the_points_fall(runtime: Runtime) -> None:
    user = create_user(runtime)
    strike(runtime, user, 2)
    strike(runtime, user, 1)
    found = fetch(runtime, user)
    assert found.uploads_paused_until is not None and not found.is_muted
    # Paused until the first of the strikes expires: then 2 points are left, under 3.
    assert abs((found.uploads_paused_until - (utcnow() + timedelta(days=30))).total_seconds()) < 60
    assert "pause_uploads" in log_actions(runtime, "user", user.id)
    assert any("uploads are paused until" in mail.body for mail in mails_to(runtime, user))


def test_paused_uploads_are_refused_with_the_time(runtime: Runtime, client: TestClient) -> None:
    user = create_user(runtime)
    strike(runtime, user, 3)
    with runtime.db.transaction() as session:
        post = Post(user_id=user.id, title="draft")
        session.add(post)
        session.flush()
        post_id = post.id
    log_in(client, user)
    image = client.post(f"/api/posts/{post_id}/images", files={"images": ("a.webp", webp(), "image/webp")})
    assert image.status_code == 403
    assert "uploads are paused until" in image.json()["detail"] and image.json()["paused_until"]
    model = client.post("/api/models", json={"name": "New", "type": "LORA"})
    assert model.status_code == 403 and "paused" in model.json()["detail"]


def test_the_mute_threshold_mutes_and_expiry_lifts_it(runtime: Runtime) -> None:
    user = create_user(runtime)
    strike(runtime, user, 5)
    assert fetch(runtime, user).is_muted
    assert strikes.AUTO_MUTE_REASON in [action.reason for action in _history(runtime, user)]
    age_strikes(runtime, user, 31)
    with runtime.db.session() as session:
        assert strikes.active_points(session, user.id) == 0  # counted at read: expired strikes stop at once
    with runtime.db.transaction() as session:
        expire_strikes(session)
    found = fetch(runtime, user)
    assert not found.is_muted and found.uploads_paused_until is None
    assert log_actions(runtime, "user", user.id)[-1] == "auto_unmute"


def test_a_moderators_own_mute_outlives_the_strikes(runtime: Runtime) -> None:
    user, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    with runtime.db.transaction() as session:
        target, actor = session.get(User, user.id), session.get(User, moderator.id)
        assert target is not None and actor is not None
        account_moderation.mute(session, actor, target, reason="Spamming comments")
    strike(runtime, user, 5, by=moderator)
    age_strikes(runtime, user, 31)
    with runtime.db.transaction() as session:
        expire_strikes(session)
    assert fetch(runtime, user).is_muted


def test_voiding_a_strike_lifts_what_it_brought(runtime: Runtime) -> None:
    user, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    strike(runtime, user, 3)
    assert fetch(runtime, user).uploads_paused_until is not None
    with runtime.db.transaction() as session:
        actor = session.get(User, moderator.id)
        assert actor is not None
        [given] = strikes.all_strikes(session, user.id)
        strikes.void_strike(session, actor, given, reason="Wrong person")
    assert fetch(runtime, user).uploads_paused_until is None


def test_restricted_until_follows_the_expiry_of_strikes() -> None:
    now = utcnow()

    def made(points: int, days: int) -> Strike:
        return Strike(points=points, expires_at=now + timedelta(days=days))

    assert strikes.restricted_until([made(1, 10)], 3) is None
    assert strikes.restricted_until([made(2, 10), made(2, 20)], 3) == now + timedelta(days=10)
    assert strikes.restricted_until([made(3, 5), made(1, 20), made(2, 30)], 3) == now + timedelta(days=20)


def test_bad_strikes_are_refused(runtime: Runtime) -> None:
    from modelyard.core.errors import ValidationFailed

    user = create_user(runtime)
    for points, reason in [(0, "x"), (101, "x"), (1, ""), (1, "a\x00b")]:
        with pytest.raises(ValidationFailed), runtime.db.transaction() as session:
            target = session.get(User, user.id)
            assert target is not None
            strikes.give_strike(session, None, target, reason=reason, points=points)


def _history(runtime: Runtime, user: UserFixture) -> list:  # type: ignore[type-arg]
    with runtime.db.session() as session:
        found = session.get(User, user.id)
        assert found is not None
        history = account_moderation.history(session, found)
        for entry in history:
            session.expunge(entry)
        return history


def test_moderators_strike_through_the_api_but_not_their_peers(runtime: Runtime, client: TestClient) -> None:
    user, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    admin = create_user(runtime, role=Role.admin)
    log_in(client, moderator)
    given = client.post(f"/api/moderation/users/{user.id}/strikes", json={"points": 3, "reason": "Spam wave"})
    assert given.status_code == 201, given.text
    body = given.json()
    assert body["active_points"] == 3 and body["uploads_paused_until"] and len(body["strikes"]) == 1
    assert client.get(f"/api/moderation/users/{user.id}/strikes").json()["active_points"] == 3
    refused = client.post(f"/api/moderation/users/{admin.id}/strikes", json={"reason": "No"})
    assert refused.status_code == 403
    assert client.post(f"/api/moderation/users/{user.id}/strikes", json={"reason": ""}).status_code == 422
    assert client.post("/api/moderation/users/99999/strikes", json={"reason": "x"}).status_code == 404
