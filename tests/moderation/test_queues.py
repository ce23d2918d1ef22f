"""Review queues: ingestion puts new users' first uploads, uncertain ratings and look-alikes in front of
moderators (uncertain ones in the rating game too); appeals are heard once and upheld or reversed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from modelyard.accounts.models import Role, User
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.models import Model
from modelyard.core.errors import Conflict, Forbidden
from modelyard.core.runtime import Runtime
from modelyard.images.events import IngestOutcome, image_ingested
from modelyard.images.ingest import accept_upload, ingest_now
from modelyard.images.models import BlockedFor, Image, Ingestion, Post
from modelyard.images.moderate import block
from modelyard.moderation import appeals, queues
from modelyard.moderation.actions import Action, Decision, act_on_case, act_on_item
from modelyard.moderation.game.models import GameQueueItem
from modelyard.moderation.models import AppealStatus, Report, ReviewItem, ReviewQueue, ReviewStatus
from tests.images.pictures import encoded, scene
from tests.moderation.world import log_actions, mails_to, picture, report
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user, log_in


def items(runtime: Runtime, queue: ReviewQueue) -> list[ReviewItem]:
    with runtime.db.session() as session:
        found = list(session.scalars(select(ReviewItem).where(ReviewItem.queue == queue).order_by(ReviewItem.id)))
        for item in found:
            session.expunge(item)
        return found


def ingested(runtime: Runtime, image_id: int, outcome: IngestOutcome) -> None:
    with runtime.db.transaction() as session:
        image = session.get(Image, image_id)
        assert image is not None
        image_ingested(session, image, outcome)


def test_a_new_users_first_upload_is_reviewed(runtime: Runtime) -> None:
    newcomer = create_user(runtime)
    with runtime.db.transaction() as session:
        owner = session.get(User, newcomer.id)
        assert owner is not None
        post = Post(user_id=owner.id, title="first")
        session.add(post)
        session.flush()
        image_id = accept_upload(session, owner, post, encoded(scene(seed=7))).id
        ingest_now(session, image_id)
    [item] = items(runtime, ReviewQueue.newUser)
    assert (item.entity_type, item.entity_id, item.status) == ("image", image_id, ReviewStatus.Pending)


def test_uncertain_images_go_to_moderators_and_the_rating_game(runtime: Runtime) -> None:
    image_id = picture(runtime, create_user(runtime))
    ingested(runtime, image_id, IngestOutcome(uncertain=True, lookalike_of=None, first_upload=False))
    ingested(runtime, image_id, IngestOutcome(uncertain=True, lookalike_of=None, first_upload=False))  # a rescan
    [item] = items(runtime, ReviewQueue.uncertain)
    assert item.entity_id == image_id
    with runtime.db.session() as session:
        assert session.get(GameQueueItem, image_id) is not None


def test_lookalikes_are_queued_and_can_be_freed(runtime: Runtime) -> None:
    owner, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    image_id = picture(runtime, owner)
    with runtime.db.transaction() as session:
        image = session.get(Image, image_id)
        assert image is not None
        block(session, image, reason=BlockedFor.lookalike, actor=None)
    ingested(runtime, image_id, IngestOutcome(uncertain=False, lookalike_of=123, first_upload=False))
    [item] = items(runtime, ReviewQueue.lookalike)
    assert item.detail == {"lookalike_of": 123}
    with runtime.db.transaction() as session:
        actor, found = session.get(User, moderator.id), session.get(ReviewItem, item.id)
        assert actor is not None and found is not None
        act_on_item(session, actor, found, Decision(Action.unblock, reason="Not the same picture"))
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        assert image is not None and image.ingestion == Ingestion.Scanned
        done = session.get(ReviewItem, item.id)
        assert done is not None and (done.status, done.resolution) == (ReviewStatus.Done, "unblock")
    assert log_actions(runtime, "image", image_id) == ["unblock"]


def test_one_open_item_per_queue_and_thing(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        first = queues.open_review(session, ReviewQueue.newUser, "image", 5, detail={"a": 1})
        second = queues.open_review(session, ReviewQueue.newUser, "image", 5, detail={"b": 2})
        other = queues.open_review(session, ReviewQueue.uncertain, "image", 5)
        assert first.id == second.id != other.id
        assert second.detail == {"a": 1, "b": 2}
        with pytest.raises(ValueError):
            queues.open_review(session, ReviewQueue.reported, "image", 5)


def _blocked_by_a_moderator(runtime: Runtime, owner: UserFixture, moderator: UserFixture) -> int:
    image_id = picture(runtime, owner)
    case_id = report(runtime, create_user(runtime), "image", image_id)
    with runtime.db.transaction() as session:
        actor, case = session.get(User, moderator.id), session.get(Report, case_id)
        assert actor is not None and case is not None
        act_on_case(session, actor, case, Decision(Action.block, reason="Looks like gore"))
    return image_id


def test_an_owner_appeals_once_and_a_moderator_reverses(runtime: Runtime, client: TestClient) -> None:
    owner, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    image_id = _blocked_by_a_moderator(runtime, owner, moderator)
    log_in(client, owner)
    body = {"entity_type": "image", "entity_id": image_id, "message": "It is ketchup"}
    filed = client.post("/api/appeals", json=body)
    assert filed.status_code == 201, filed.text
    assert client.post("/api/appeals", json=body).status_code == 409  # once
    [item] = items(runtime, ReviewQueue.appeal)
    client.cookies.clear()
    log_in(client, moderator)
    decided = client.post(f"/api/moderation/appeals/{filed.json()['id']}/decide", json={"decision": "reverse"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == AppealStatus.Reversed
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        assert image is not None and image.ingestion == Ingestion.Scanned
        done = session.get(ReviewItem, item.id)
        assert done is not None and done.status == ReviewStatus.Done
    assert log_actions(runtime, "image", image_id) == ["block", "appeal", "reverse"]
    assert "undid the decision" in mails_to(runtime, owner)[-1].body


def test_an_upheld_appeal_keeps_the_block(runtime: Runtime) -> None:
    owner, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    image_id = _blocked_by_a_moderator(runtime, owner, moderator)
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        assert user is not None
        appeal_id = appeals.file_appeal(session, user, "image", image_id, "Please").id
    with runtime.db.transaction() as session:
        actor = session.get(User, moderator.id)
        assert actor is not None
        appeals.decide(session, actor, appeals.get_appeal(session, appeal_id), reverse=False, note="It is gore")
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        assert image is not None and image.ingestion == Ingestion.Blocked
    assert "upheld" in mails_to(runtime, owner)[-1].body


def test_only_owners_appeal_and_only_decisions(runtime: Runtime) -> None:
    owner, stranger, moderator = create_user(runtime), create_user(runtime), create_user(runtime, role=Role.moderator)
    blocked = _blocked_by_a_moderator(runtime, owner, moderator)
    fine = picture(runtime, owner)
    with runtime.db.transaction() as session:
        user, other = session.get(User, owner.id), session.get(User, stranger.id)
        assert user is not None and other is not None
        with pytest.raises(Conflict):
            appeals.file_appeal(session, user, "image", fine, "Why?")
        from modelyard.core.errors import NotFound

        with pytest.raises((Forbidden, NotFound)):  # a blocked image is hidden from others altogether
            appeals.file_appeal(session, other, "image", blocked, "Mine!")


def test_a_model_taken_down_is_republished_on_reversal(runtime: Runtime) -> None:
    owner, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    made = create_model(runtime, owner, published=True)
    case_id = report(runtime, create_user(runtime), "model", made.id)
    with runtime.db.transaction() as session:
        actor, case = session.get(User, moderator.id), session.get(Report, case_id)
        assert actor is not None and case is not None
        act_on_case(session, actor, case, Decision(Action.unpublish, reason="Stolen"))
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        assert user is not None
        appeal = appeals.file_appeal(session, user, "model", made.id, "Here is my training log")
        appeal_id = appeal.id
    with runtime.db.transaction() as session:
        actor = session.get(User, moderator.id)
        assert actor is not None
        appeals.decide(session, actor, appeals.get_appeal(session, appeal_id), reverse=True)
    with runtime.db.session() as session:
        model = session.get(Model, made.id)
        assert model is not None and model.status == ModelStatus.Published
