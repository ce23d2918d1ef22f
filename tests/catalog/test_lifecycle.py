"""The publishing lifecycle, as the specification (shared/mission/models-feature.md) states it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from modelyard.accounts.models import Role
from modelyard.catalog import queries
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model, ModelVersion, StatusTransition
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict
from modelyard.images.models import Post
from modelyard.search.models import SearchIndexUpdate
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user

S = ModelStatus


@pytest.fixture
def people(runtime):
    owner = create_user(runtime)
    mod = create_user(runtime, role=Role.moderator)
    other = create_user(runtime)
    return {
        "owner": owner,
        "mod": mod,
        "other": other,
        "owner_key": {"Authorization": f"Bearer {create_api_key(runtime, owner)}"},
        "mod_key": {"Authorization": f"Bearer {create_api_key(runtime, mod)}"},
        "other_key": {"Authorization": f"Bearer {create_api_key(runtime, other)}"},
    }


def model_row(runtime, model_id: int) -> Model:
    with runtime.db.session() as session:
        model = session.get(Model, model_id)
        assert model is not None
        session.expunge(model)
        return model


def versions(runtime, model_id: int) -> list[ModelVersion]:
    with runtime.db.session() as session:
        rows = session.scalars(select(ModelVersion).where(ModelVersion.model_id == model_id)).all()
        session.expunge_all()
        return list(rows)


def posts(runtime, ids: list[int]) -> list[Post]:
    with runtime.db.session() as session:
        rows = session.scalars(select(Post).where(Post.id.in_(ids)).order_by(Post.id)).all()
        session.expunge_all()
        return list(rows)


def outbox(runtime) -> list[tuple[str, int, str]]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(SearchIndexUpdate.index, SearchIndexUpdate.entity_id, SearchIndexUpdate.action).order_by(
                SearchIndexUpdate.id
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def set_status(runtime, model_id: int, status: ModelStatus) -> None:
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == model_id).values(status=status))


class TestPublishing:
    def test_publish_sets_published_at_once_and_publishes_versions_and_posts(self, runtime, client, people):
        made = create_model(runtime, people["owner"], versions=2)
        assert model_row(runtime, made.id).status == S.Draft
        response = client.post(f"/api/models/{made.id}/publish", json={}, headers=people["owner_key"])
        assert response.status_code == 200, response.text
        model = model_row(runtime, made.id)
        assert model.status == S.Published and model.published_at is not None
        assert {v.status for v in versions(runtime, made.id)} == {S.Published}
        assert all(post.published_at is not None for post in posts(runtime, made.post_ids))
        assert model.last_version_at == max(v.published_at for v in versions(runtime, made.id))  # type: ignore[type-var]
        first = model.published_at

        client.post(f"/api/models/{made.id}/unpublish", json={}, headers=people["owner_key"])
        assert model_row(runtime, made.id).published_at == first  # kept through unpublishing
        client.post(f"/api/models/{made.id}/publish", json={}, headers=people["owner_key"])
        model = model_row(runtime, made.id)
        assert model.status == S.Published and model.published_at == first  # and through republishing

    def test_a_model_without_a_file_cannot_be_published(self, runtime, client, people):
        made = create_model(runtime, people["owner"], with_files=False)
        response = client.post(f"/api/models/{made.id}/publish", json={}, headers=people["owner_key"])
        assert response.status_code == 409
        assert "no files" in response.json()["detail"]
        assert model_row(runtime, made.id).status == S.Draft

    def test_a_version_publishes_only_on_a_published_model(self, runtime, client, people):
        made = create_model(runtime, people["owner"], versions=2)
        vid = made.version_ids[0]
        response = client.post(f"/api/model-versions/{vid}/publish", json={}, headers=people["owner_key"])
        assert response.status_code == 409 and "Draft" in response.json()["detail"]
        client.post(
            f"/api/models/{made.id}/publish", json={"version_ids": [made.version_ids[1]]}, headers=people["owner_key"]
        )
        assert {v.id: v.status for v in versions(runtime, made.id)}[vid] == S.Draft
        response = client.post(f"/api/model-versions/{vid}/publish", json={}, headers=people["owner_key"])
        assert response.status_code == 200 and response.json()["status"] == "Published"


# Every status against every move an owner can ask for: allowed moves succeed, all others are refused with 409,
# naming the current status and what is allowed.
MOVES = {
    "publish": (S.Published, "post", "/api/models/{id}/publish", {}),
    "unpublish": (S.Unpublished, "post", "/api/models/{id}/unpublish", {}),
    "delete": (S.Deleted, "delete", "/api/models/{id}", None),
    "schedule": (S.Scheduled, "post", "/api/models/{id}/publish", "future"),
    "cancel": (S.Draft, "post", "/api/models/{id}/cancel-schedule", {}),
}


@pytest.mark.parametrize("start", list(ModelStatus))
@pytest.mark.parametrize("move", list(MOVES))
def test_only_the_listed_transitions_happen(runtime, client, people, start, move):
    made = create_model(runtime, people["owner"])
    set_status(runtime, made.id, start)
    target, method, path, body = MOVES[move]
    if body == "future":
        body = {"scheduled_for": (utcnow() + timedelta(hours=1)).isoformat()}
    # A moderator acts, so staff-only moves (lifting a violation, restoring) are allowed where the table says.
    kwargs = {"json": body} if body is not None else {}
    response = client.request(method.upper(), path.format(id=made.id), headers=people["mod_key"], **kwargs)
    allowed = target in lifecycle.TRANSITIONS[start]
    if move == "cancel" and start != S.Scheduled:
        allowed = False
    if allowed:
        assert response.status_code in (200, 204), response.text
        with runtime.db.session() as session:
            assert session.get(Model, made.id).status == target  # type: ignore[union-attr]
    else:
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["status"] == start.value
        assert start.value in body["detail"]
        assert model_row(runtime, made.id).status == start  # nothing changed


class TestUnpublishing:
    def test_meta_versions_and_posts(self, runtime, client, people):
        made = create_model(runtime, people["owner"], versions=2, published=True)
        before = {post.id: post.published_at for post in posts(runtime, made.post_ids)}
        response = client.post(
            f"/api/models/{made.id}/unpublish",
            json={"kind": "violation", "reason": "Impersonation", "custom_message": "Contact support"},
            headers=people["mod_key"],
        )
        assert response.status_code == 200, response.text
        model = model_row(runtime, made.id)
        assert model.status == S.UnpublishedViolation
        assert model.meta["unpublishedBy"] == people["mod"].id
        assert model.meta["unpublishedReason"] == "Impersonation"
        assert model.meta["customMessage"] == "Contact support"
        assert datetime.fromisoformat(model.meta["unpublishedAt"]) <= utcnow()
        assert {v.status for v in versions(runtime, made.id)} == {S.Unpublished}  # the specification's rule
        assert model.last_version_at is None
        for post in posts(runtime, made.post_ids):
            assert post.published_at is None
            assert datetime.fromisoformat(post.metadata_["prevPublishedAt"]) == before[post.id]
        # The owner cannot lift a violation; a moderator can, and the posts come back with their dates.
        assert client.post(f"/api/models/{made.id}/publish", json={}, headers=people["owner_key"]).status_code == 403
        assert client.post(f"/api/models/{made.id}/publish", json={}, headers=people["mod_key"]).status_code == 200
        assert {post.id: post.published_at for post in posts(runtime, made.post_ids)} == before
        assert "unpublishedReason" not in model_row(runtime, made.id).meta

    def test_other_peoples_posts_go_down_and_come_back_with_the_version(self, runtime, client, people):
        made = create_model(runtime, people["owner"], published=True)
        published_at = utcnow() - timedelta(days=3)
        with runtime.db.transaction() as session:
            review = Post(user_id=people["other"].id, model_version_id=made.version_ids[0], published_at=published_at)
            draft = Post(user_id=people["other"].id, model_version_id=made.version_ids[0])
            session.add_all([review, draft])
            session.flush()
            review_id, draft_id = review.id, draft.id
        client.post(f"/api/models/{made.id}/unpublish", json={}, headers=people["owner_key"])
        assert posts(runtime, [review_id])[0].published_at is None
        client.post(f"/api/models/{made.id}/publish", json={}, headers=people["owner_key"])
        review_row, draft_row = posts(runtime, [review_id, draft_id])
        assert review_row.published_at == published_at
        assert draft_row.published_at is None  # someone else's draft stays theirs to publish

    def test_owners_unpublish_voluntarily_only(self, runtime, client, people):
        made = create_model(runtime, people["owner"], published=True)
        for kind in ("violation", "legal"):
            response = client.post(
                f"/api/models/{made.id}/unpublish", json={"kind": kind, "reason": "x"}, headers=people["owner_key"]
            )
            assert response.status_code == 403
        response = client.post(
            f"/api/models/{made.id}/unpublish", json={"kind": "violation"}, headers=people["mod_key"]
        )
        assert response.status_code == 422  # a violation needs a reason
        assert model_row(runtime, made.id).status == S.Published

    def test_others_cannot_unpublish(self, runtime, client, people):
        made = create_model(runtime, people["owner"], published=True)
        response = client.post(f"/api/models/{made.id}/unpublish", json={}, headers=people["other_key"])
        assert response.status_code == 403
        assert model_row(runtime, made.id).status == S.Published

    def test_side_effects(self, runtime, client, people):
        made = create_model(runtime, people["owner"], versions=2, published=True)
        overview = client.get("/api/me/models", headers=people["owner_key"]).json()["overview"]
        assert overview == {"Published": 1}  # now cached
        with runtime.db.transaction() as session:
            session.execute(SearchIndexUpdate.__table__.delete())
        client.post(f"/api/models/{made.id}/unpublish", json={}, headers=people["owner_key"])
        entries = outbox(runtime)
        assert ("models", made.id, "delete") in entries
        assert {("images", image_id, "delete") for image_id in made.image_ids} <= set(entries)
        # The owner's content overview was invalidated, not served stale from the cache.
        assert client.get("/api/me/models", headers=people["owner_key"]).json()["overview"] == {"Unpublished": 1}

    def test_early_access_purchases_block_the_owner_not_a_moderator(self, runtime, client, people):
        made = create_model(runtime, people["owner"], published=True)
        with runtime.db.transaction() as session:
            effects.record_early_access_purchase(session, session.get(ModelVersion, made.version_ids[0]))  # type: ignore[arg-type]
        for path in (f"/api/models/{made.id}/unpublish", f"/api/model-versions/{made.version_ids[0]}/unpublish"):
            response = client.post(path, json={}, headers=people["owner_key"])
            assert response.status_code == 403 and "early access" in response.json()["detail"]
        assert client.delete(f"/api/models/{made.id}", headers=people["owner_key"]).status_code == 403
        assert model_row(runtime, made.id).status == S.Published
        response = client.post(f"/api/models/{made.id}/unpublish", json={}, headers=people["mod_key"])
        assert response.status_code == 200
        assert model_row(runtime, made.id).status == S.Unpublished

    def test_unpublishing_the_last_version_takes_the_model_down(self, runtime, client, people):
        made = create_model(runtime, people["owner"], versions=2, published=True)
        first, second = made.version_ids
        client.post(f"/api/model-versions/{first}/unpublish", json={}, headers=people["owner_key"])
        model = model_row(runtime, made.id)
        assert model.status == S.Published
        assert model.last_version_at == {v.id: v for v in versions(runtime, made.id)}[second].published_at
        client.post(f"/api/model-versions/{second}/unpublish", json={}, headers=people["owner_key"])
        assert model_row(runtime, made.id).status == S.Unpublished

    def test_republish_brings_back_only_what_went_down_with_the_model(self, runtime, client, people):
        made = create_model(runtime, people["owner"], versions=2, published=True)
        alone, together = made.version_ids
        client.post(f"/api/model-versions/{alone}/unpublish", json={}, headers=people["owner_key"])
        client.post(f"/api/models/{made.id}/unpublish", json={}, headers=people["owner_key"])
        client.post(f"/api/models/{made.id}/publish", json={}, headers=people["owner_key"])
        states = {v.id: v.status for v in versions(runtime, made.id)}
        assert states == {alone: S.Unpublished, together: S.Published}


class TestTriggers:
    def test_a_ban_unpublishes_all_the_users_models(self, runtime, client, people):
        first = create_model(runtime, people["owner"], published=True)
        second = create_model(runtime, people["owner"], name="Second", published=True)
        scheduled = create_model(runtime, people["owner"], name="Later")
        with runtime.db.transaction() as session:
            from modelyard.accounts.models import User

            lifecycle.schedule_model(
                session,
                session.get(Model, scheduled.id),
                session.get(User, people["owner"].id),  # type: ignore[arg-type]
                at=utcnow() + timedelta(hours=1),
            )
        response = client.post(
            f"/api/admin/users/{people['owner'].id}/ban", json={"reason": "spam"}, headers=people["mod_key"]
        )
        assert response.status_code == 200, response.text
        assert model_row(runtime, first.id).status == S.Unpublished
        assert model_row(runtime, second.id).status == S.Unpublished
        assert model_row(runtime, scheduled.id).status == S.Draft  # a banned user's schedule is called off
        with runtime.db.session() as session:
            triggers = set(
                session.scalars(select(StatusTransition.trigger).where(StatusTransition.model_id == first.id))
            )
        assert "ban" in triggers

    def test_a_ban_without_a_moderator_still_unpublishes(self, runtime, people):
        from modelyard.accounts import moderation
        from modelyard.accounts.models import User

        made = create_model(runtime, people["owner"], published=True)
        with runtime.db.transaction() as session:
            effects.record_early_access_purchase(session, session.get(ModelVersion, made.version_ids[0]))  # type: ignore[arg-type]
            moderation.ban(session, None, session.get(User, people["owner"].id), reason="chargebacks")  # type: ignore[arg-type]
        assert model_row(runtime, made.id).status == S.Unpublished
        with runtime.db.session() as session:
            actors = set(session.scalars(select(StatusTransition.actor_id).where(StatusTransition.trigger == "ban")))
        assert actors == {None}

    def test_a_failed_scan_unpublishes_as_a_violation(self, runtime, people):
        from modelyard.catalog.enums import ScanResult
        from modelyard.catalog.lifecycle.triggers import unpublish_for_failed_scan
        from modelyard.catalog.models import ModelFile

        made = create_model(runtime, people["owner"], published=True)
        with runtime.db.transaction() as session:
            file = session.get(ModelFile, made.file_ids[0])
            assert file is not None
            file.virus_scan_result = ScanResult.Danger
            unpublish_for_failed_scan(session, file, reason="Eicar-Test-Signature")
        version = versions(runtime, made.id)[0]
        assert version.status == S.UnpublishedViolation
        assert "Eicar" in version.meta["unpublishedReason"]
        assert model_row(runtime, made.id).status == S.UnpublishedViolation
        # And it cannot be published again while the file is there, not even by a moderator.
        with runtime.db.transaction() as session:
            from modelyard.accounts.models import User

            mod = session.get(User, people["mod"].id)
            model = session.get(Model, made.id)
            with pytest.raises(Conflict, match="No version would be published"):
                lifecycle.publish_model(session, model, mod)  # type: ignore[arg-type]
            with pytest.raises(Conflict, match="failed its scan"):
                lifecycle.publish_model(session, model, mod, version_ids=made.version_ids)  # type: ignore[arg-type]

    def test_legal_request_keeps_reason_and_message(self, runtime, client, people):
        made = create_model(runtime, people["owner"], published=True)
        body = {"kind": "legal", "reason": "DMCA notice 2026-114", "custom_message": "Counter-notice: legal@…"}
        assert client.post(f"/api/models/{made.id}/unpublish", json=body, headers=people["mod_key"]).status_code == 200
        history = client.get(f"/api/models/{made.id}/transitions", headers=people["owner_key"]).json()
        latest = next(row for row in history if row["entity_type"] == "Model")
        assert latest["trigger"] == "legal" and latest["reason"] == "DMCA notice 2026-114"
        assert latest["actor"] == people["mod"].username
        assert latest["from_status"] == "Published" and latest["to_status"] == "UnpublishedViolation"


class TestScheduling:
    def test_due_content_is_published_by_the_periodic_job(self, runtime, client, people):
        from modelyard.catalog.tasks import publish_scheduled

        made = create_model(runtime, people["owner"])
        at = utcnow() + timedelta(minutes=5)
        response = client.post(
            f"/api/models/{made.id}/publish", json={"scheduled_for": at.isoformat()}, headers=people["owner_key"]
        )
        assert response.status_code == 200 and response.json()["status"] == "Scheduled"
        with runtime.db.transaction() as session:
            publish_scheduled.spec.func(session)
        assert model_row(runtime, made.id).status == S.Scheduled  # not yet due
        with runtime.db.transaction() as session:
            session.execute(update(Model).values(scheduled_for=utcnow() - timedelta(seconds=1)))
            session.execute(update(ModelVersion).values(scheduled_for=utcnow() - timedelta(seconds=1)))
        with runtime.db.transaction() as session:
            publish_scheduled.spec.func(session)
        model = model_row(runtime, made.id)
        assert model.status == S.Published and model.scheduled_for is None
        assert {v.status for v in versions(runtime, made.id)} == {S.Published}

    def test_a_worker_publishes_at_the_scheduled_time(self, runtime, client, people):
        import time

        from modelyard.core.jobs.consumer import JobWorker

        made = create_model(runtime, people["owner"])
        at = utcnow() + timedelta(seconds=2)
        client.post(
            f"/api/models/{made.id}/publish", json={"scheduled_for": at.isoformat()}, headers=people["owner_key"]
        )
        worker = JobWorker(runtime, threads=1)
        worker.start()
        try:
            deadline = time.monotonic() + 60
            while model_row(runtime, made.id).status != S.Published and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            worker.stop(graceful=True)
        model = model_row(runtime, made.id)
        assert model.status == S.Published
        assert utcnow() - at < timedelta(seconds=60)

    def test_what_can_no_longer_be_published_falls_back_to_draft(self, runtime, client, people):
        from modelyard.catalog.tasks import publish_scheduled

        made = create_model(runtime, people["owner"])
        at = (utcnow() + timedelta(minutes=5)).isoformat()
        client.post(f"/api/models/{made.id}/publish", json={"scheduled_for": at}, headers=people["owner_key"])
        assert client.delete(f"/api/model-files/{made.file_ids[0]}", headers=people["owner_key"]).status_code == 204
        with runtime.db.transaction() as session:
            session.execute(update(Model).values(scheduled_for=utcnow() - timedelta(seconds=1)))
        with runtime.db.transaction() as session:
            publish_scheduled.spec.func(session)
        assert model_row(runtime, made.id).status == S.Draft
        with runtime.db.session() as session:
            last = session.scalars(
                select(StatusTransition)
                .where(StatusTransition.entity_type == "Model", StatusTransition.entity_id == made.id)
                .order_by(StatusTransition.id.desc())
            ).first()
        assert last is not None and last.to_status == S.Draft and "no files" in (last.reason or "")

    def test_the_past_is_refused(self, runtime, client, people):
        made = create_model(runtime, people["owner"])
        past = (utcnow() - timedelta(minutes=1)).isoformat()
        response = client.post(
            f"/api/models/{made.id}/publish", json={"scheduled_for": past}, headers=people["owner_key"]
        )
        assert response.status_code == 422
        assert model_row(runtime, made.id).status == S.Draft


class TestDeleting:
    def test_soft_delete_hides_from_the_owner_and_keeps_it_for_moderators(self, runtime, client, people):
        made = create_model(runtime, people["owner"], published=True)
        assert client.delete(f"/api/models/{made.id}", headers=people["owner_key"]).status_code == 204
        assert client.get(f"/api/models/{made.id}", headers=people["owner_key"]).status_code == 404
        assert client.get(f"/api/models/{made.id}", headers=people["mod_key"]).json()["status"] == "Deleted"
        response = client.post(f"/api/models/{made.id}/restore", headers=people["mod_key"])
        assert response.status_code == 200 and response.json()["status"] == "Unpublished"
        assert client.get(f"/api/models/{made.id}", headers=people["owner_key"]).status_code == 200

    def test_files_are_purged_after_the_retention_period(self, runtime, client, people):
        from modelyard.catalog.models import ModelFile
        from modelyard.catalog.tasks import purge_deleted

        made = create_model(runtime, people["owner"], published=True)
        with runtime.db.session() as session:
            key = session.get(ModelFile, made.file_ids[0]).storage_key  # type: ignore[union-attr]
        client.delete(f"/api/models/{made.id}", headers=people["owner_key"])
        with runtime.db.transaction() as session:
            purge_deleted.spec.func(session)
        assert runtime.storage.exists(key)  # still within the retention period
        days = runtime.settings.deleted_retention_days + 1
        with runtime.db.transaction() as session:
            session.execute(update(Model).values(deleted_at=utcnow() - timedelta(days=days)))
        with runtime.db.transaction() as session:
            purge_deleted.spec.func(session)
        assert not runtime.storage.exists(key)
        with runtime.db.session() as session:
            assert session.get(ModelFile, made.file_ids[0]).data_purged  # type: ignore[union-attr]
        response = client.post(f"/api/models/{made.id}/restore", headers=people["mod_key"])
        assert response.status_code == 409 and "purged" in response.json()["detail"]


class TestTransitionLog:
    def test_every_move_is_logged_and_moderators_read_it(self, runtime, client, people):
        made = create_model(runtime, people["owner"], published=True)
        client.post(f"/api/models/{made.id}/unpublish", json={}, headers=people["owner_key"])
        rows = client.get("/api/moderation/transitions", headers=people["mod_key"]).json()
        moves = [
            (row["entity_type"], row["from_status"], row["to_status"]) for row in rows if row["model_id"] == made.id
        ]
        assert moves[:2] == [("ModelVersion", "Published", "Unpublished"), ("Model", "Published", "Unpublished")]
        assert ("Model", "Draft", "Published") in moves
        assert client.get("/api/moderation/transitions", headers=people["other_key"]).status_code == 403
        assert client.get(f"/api/models/{made.id}/transitions", headers=people["other_key"]).status_code == 404

    def test_overview_counts(self, runtime, people):
        create_model(runtime, people["owner"], published=True)
        create_model(runtime, people["owner"], name="Draft one")
        with runtime.db.session() as session:
            assert queries.content_overview(session, people["owner"].id) == {"Published": 1, "Draft": 1}
