"""What moderators do with a case: claim it (one moderator at a time), act through the domain that owns the
thing, log it, close the case, and tell the reporters and the owner."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from modelyard.accounts.models import Role, User
from modelyard.catalog.enums import ModelStatus, UnpublishKind
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.errors import AppError, Conflict, ValidationFailed
from modelyard.core.runtime import Runtime
from modelyard.images.models import Image, Ingestion, Post
from modelyard.moderation import claims
from modelyard.moderation.actions import Action, Decision, act_on_case
from modelyard.moderation.models import ModerationLog, Report, ReportStatus
from modelyard.moderation.strikes import active_points
from tests.moderation.world import case, log_actions, mails_to, picture, post_of, report
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user, log_in


def decide(runtime: Runtime, moderator: UserFixture, case_id: int, decision: Decision) -> None:
    with runtime.db.transaction() as session:
        actor = session.get(User, moderator.id)
        found = session.get(Report, case_id)
        assert actor is not None and found is not None
        act_on_case(session, actor, found, decision)


def claim(runtime: Runtime, moderator: UserFixture, case_id: int) -> None:
    with runtime.db.transaction() as session:
        actor = session.get(User, moderator.id)
        found = session.get(Report, case_id)
        assert actor is not None and found is not None
        claims.claim(session, found, actor)


@pytest.fixture
def people(runtime: Runtime) -> dict[str, UserFixture]:
    return {
        "owner": create_user(runtime),
        "reporter": create_user(runtime),
        "second": create_user(runtime),
        "mod": create_user(runtime, role=Role.moderator),
        "other_mod": create_user(runtime, role=Role.moderator),
    }


def test_a_claimed_case_is_seen_claimed_and_refused_to_another_moderator(
    runtime: Runtime, people: dict[str, UserFixture]
) -> None:
    case_id = report(runtime, people["reporter"], "image", picture(runtime, people["owner"]))
    claim(runtime, people["mod"], case_id)
    found = case(runtime, case_id)
    assert (found.status, found.claimed_by_id) == (ReportStatus.Processing, people["mod"].id)
    with pytest.raises(Conflict, match=people["mod"].username):
        claim(runtime, people["other_mod"], case_id)
    with pytest.raises(Conflict):
        decide(runtime, people["other_mod"], case_id, Decision(Action.dismiss))
    claim(runtime, people["mod"], case_id)  # claiming again is harmless
    assert case(runtime, case_id).status == ReportStatus.Processing


def test_two_moderators_claiming_at_once_one_wins(runtime: Runtime, people: dict[str, UserFixture]) -> None:
    case_id = report(runtime, people["reporter"], "image", picture(runtime, people["owner"]))
    moderators = [people["mod"], people["other_mod"], create_user(runtime, role=Role.moderator)]
    barrier = threading.Barrier(len(moderators))
    won: list[int] = []
    lost: list[AppError] = []

    def race(moderator: UserFixture) -> None:
        barrier.wait()
        try:
            claim(runtime, moderator, case_id)
            won.append(moderator.id)
        except Conflict as exc:
            lost.append(exc)

    threads = [threading.Thread(target=race, args=(m,)) for m in moderators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(lost) == 2
    assert case(runtime, case_id).claimed_by_id == won[0]


def test_a_stale_claim_can_be_taken_over(runtime: Runtime, people: dict[str, UserFixture]) -> None:
    from datetime import timedelta

    from modelyard.core.db import utcnow

    case_id = report(runtime, people["reporter"], "image", picture(runtime, people["owner"]))
    claim(runtime, people["mod"], case_id)
    with runtime.db.transaction() as session:
        found = session.get(Report, case_id)
        assert found is not None
        found.claimed_at = utcnow() - timedelta(hours=5)
    claim(runtime, people["other_mod"], case_id)
    assert case(runtime, case_id).claimed_by_id == people["other_mod"].id


def test_dismissing_leaves_the_thing_and_tells_the_reporters(runtime: Runtime, people: dict[str, UserFixture]) -> None:
    image_id = picture(runtime, people["owner"])
    case_id = report(runtime, people["reporter"], "image", image_id)
    report(runtime, people["second"], "image", image_id)
    decide(runtime, people["mod"], case_id, Decision(Action.dismiss, reason="Fine"))
    found = case(runtime, case_id)
    assert (found.status, found.resolution, found.resolved_by_id) == (
        ReportStatus.Unactioned,
        "dismiss",
        people["mod"].id,
    )
    assert log_actions(runtime, "image", image_id) == ["dismiss"]
    for reporter in (people["reporter"], people["second"]):
        [mail] = mails_to(runtime, reporter)
        assert "nothing against the rules" in mail.body
    assert mails_to(runtime, people["owner"]) == []  # a dismissed report is no news to the owner
    with pytest.raises(Conflict):
        decide(runtime, people["mod"], case_id, Decision(Action.block, reason="changed my mind"))


def test_relevelling_an_image_locks_its_level(runtime: Runtime, people: dict[str, UserFixture]) -> None:
    image_id = picture(runtime, people["owner"], level=1)
    case_id = report(runtime, people["reporter"], "image", image_id)
    decide(runtime, people["mod"], case_id, Decision(Action.set_level, reason="Nudity", level=8))
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        assert image is not None
        assert (image.nsfw_level, image.nsfw_level_locked) == (8, True)
    assert case(runtime, case_id).status == ReportStatus.Actioned
    assert log_actions(runtime, "image", image_id) == ["set_level"]
    [to_reporter] = mails_to(runtime, people["reporter"])
    assert "took action" in to_reporter.body
    [to_owner] = mails_to(runtime, people["owner"])
    assert "changed its content rating" in to_owner.body and "Nudity" in to_owner.body


def test_blocking_an_image_hides_it_and_strikes_the_owner(runtime: Runtime, people: dict[str, UserFixture]) -> None:
    image_id = picture(runtime, people["owner"])
    case_id = report(runtime, people["reporter"], "image", image_id)
    decide(runtime, people["mod"], case_id, Decision(Action.block, reason="Gore", strike_points=2))
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        assert image is not None and image.ingestion == Ingestion.Blocked
        assert active_points(session, people["owner"].id) == 2
        strike_log = session.scalar(select(ModerationLog).where(ModerationLog.action == "strike"))
        assert strike_log is not None and strike_log.report_id == case_id
    assert log_actions(runtime, "image", image_id) == ["block"]
    [to_owner, *_] = mails_to(runtime, people["owner"])
    assert "appeal" in to_owner.body


def test_unpublishing_a_model_goes_through_the_lifecycle(runtime: Runtime, people: dict[str, UserFixture]) -> None:
    made = create_model(runtime, people["owner"], published=True)
    case_id = report(runtime, people["reporter"], "model", made.id)
    decide(runtime, people["mod"], case_id, Decision(Action.unpublish, reason="Stolen", message="Prove it is yours"))
    with runtime.db.session() as session:
        model = session.get(Model, made.id)
        assert model is not None and model.status == ModelStatus.UnpublishedViolation
    [to_owner] = mails_to(runtime, people["owner"])  # the lifecycle's notice, not a second one
    assert "Stolen" in to_owner.body and "Prove it is yours" in to_owner.body


def test_unpublishing_a_version(runtime: Runtime, people: dict[str, UserFixture]) -> None:
    made = create_model(runtime, people["owner"], published=True, versions=2)
    case_id = report(runtime, people["reporter"], "version", made.version_ids[1])
    decide(runtime, people["mod"], case_id, Decision(Action.unpublish, reason="Malware", kind=UnpublishKind.legal))
    with runtime.db.session() as session:
        version = session.get(ModelVersion, made.version_ids[1])
        assert version is not None and version.status == ModelStatus.UnpublishedViolation


def test_unpublishing_a_post(runtime: Runtime, people: dict[str, UserFixture]) -> None:
    post_id = post_of(runtime, picture(runtime, people["owner"]))
    case_id = report(runtime, people["reporter"], "post", post_id)
    decide(runtime, people["mod"], case_id, Decision(Action.unpublish, reason="Spam"))
    with runtime.db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None and post.published_at is None


def test_muting_and_banning_the_owner(runtime: Runtime, people: dict[str, UserFixture]) -> None:
    image_id = picture(runtime, people["owner"])
    first = report(runtime, people["reporter"], "image", image_id)
    decide(runtime, people["mod"], first, Decision(Action.mute, reason="Harassment"))
    with runtime.db.session() as session:
        owner = session.get(User, people["owner"].id)
        assert owner is not None and owner.is_muted
    second = report(runtime, people["reporter"], "user", people["owner"].id)
    decide(runtime, people["mod"], second, Decision(Action.ban, reason="Repeated harassment"))
    with runtime.db.session() as session:
        owner = session.get(User, people["owner"].id)
        assert owner is not None and owner.is_banned
    assert log_actions(runtime, "user", people["owner"].id) == ["ban"]


def test_a_moderator_cannot_be_banned_by_another_moderator(runtime: Runtime, people: dict[str, UserFixture]) -> None:
    case_id = report(runtime, people["reporter"], "user", people["other_mod"].id)
    with pytest.raises(AppError):
        decide(runtime, people["mod"], case_id, Decision(Action.ban, reason="No"))
    assert case(runtime, case_id).status == ReportStatus.Pending  # rolled back: nothing changed


def test_actions_that_do_not_fit_the_thing_are_refused(runtime: Runtime, people: dict[str, UserFixture]) -> None:
    made = create_model(runtime, people["owner"], published=True)
    case_id = report(runtime, people["reporter"], "model", made.id)
    for decision in [
        Decision(Action.block, reason="x"),  # images only
        Decision(Action.set_level, level=8),
        Decision(Action.unpublish),  # no reason
        Decision(Action.strike, reason="x", strike_points=0),
    ]:
        with pytest.raises(ValidationFailed):
            decide(runtime, people["mod"], case_id, decision)
    assert case(runtime, case_id).status == ReportStatus.Pending


def test_moderator_api_queue_claim_and_act(
    runtime: Runtime, client: TestClient, people: dict[str, UserFixture]
) -> None:
    image_id = picture(runtime, people["owner"])
    case_id = report(runtime, people["reporter"], "image", image_id)
    log_in(client, people["reporter"])
    assert client.get("/api/moderation/queue").status_code == 403
    assert client.post(f"/api/moderation/cases/{case_id}/claim").status_code == 403
    client.post("/api/auth/logout")
    client.cookies.clear()
    log_in(client, people["mod"])
    listed = client.get("/api/moderation/queue", params={"queue": "reported", "entity_type": "image"}).json()
    assert [c["id"] for c in listed["cases"]] == [case_id] and listed["sizes"]["reported"] == 1
    assert client.get("/api/moderation/queue", params={"reason": "Spam"}).json()["cases"] == []
    assert client.post(f"/api/moderation/cases/{case_id}/claim").json()["status"] == "Processing"
    acted = client.post(f"/api/moderation/cases/{case_id}/act", json={"action": "set_level", "level": 4, "reason": "R"})
    assert acted.status_code == 200, acted.text
    body = acted.json()
    assert body["status"] == "Actioned" and [line["action"] for line in body["log"]] == ["set_level"]
    assert body["reports"][0]["reporter_id"] == people["reporter"].id
    assert client.get("/api/moderation/queue").json()["cases"] == []
    log = client.get("/api/moderation/log", params={"entity_type": "image", "entity_id": image_id}).json()
    assert [line["action"] for line in log] == ["set_level"]
    bad = client.post(f"/api/moderation/cases/{case_id}/act", json={"action": "explode"})
    assert bad.status_code == 422
