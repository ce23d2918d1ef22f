"""Scheduled versions and their model's unpublishing: a Scheduled version goes down with its model (the
specification: every version of an unpublished model is Unpublished), and republishing the model never publishes
it before its time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.models import Model, ModelVersion, StatusTransition
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user

S = ModelStatus


@pytest.fixture
def owner(runtime: Runtime) -> dict[str, Any]:
    user = create_user(runtime)
    return {"user": user, "key": {"Authorization": f"Bearer {create_api_key(runtime, user)}"}}


def statuses(runtime: Runtime, model_id: int) -> tuple[ModelStatus, dict[int, ModelStatus]]:
    with runtime.db.session() as session:
        model = session.get(Model, model_id)
        assert model is not None
        rows = session.scalars(select(ModelVersion).where(ModelVersion.model_id == model_id))
        return model.status, {version.id: version.status for version in rows}


def scheduled_for(runtime: Runtime, version_id: int) -> datetime | None:
    with runtime.db.session() as session:
        version = session.get(ModelVersion, version_id)
        assert version is not None
        return version.scheduled_for


def run_scheduler(runtime: Runtime) -> None:
    from modelyard.catalog.tasks import publish_scheduled

    with runtime.db.transaction() as session:
        publish_scheduled.spec.func(session)


def published_with_a_scheduled_version(client: Any, runtime: Runtime, owner: dict[str, Any]) -> tuple[Any, datetime]:
    """A published model (its first version live) whose second version is Scheduled for an hour from now."""
    made = create_model(runtime, owner["user"], versions=2)
    live, later = made.version_ids
    response = client.post(f"/api/models/{made.id}/publish", json={"version_ids": [live]}, headers=owner["key"])
    assert response.status_code == 200, response.text
    at = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    response = client.post(
        f"/api/model-versions/{later}/publish", json={"scheduled_for": at.isoformat()}, headers=owner["key"]
    )
    assert response.status_code == 200 and response.json()["status"] == "Scheduled", response.text
    return made, at


def test_unpublishing_a_model_takes_its_scheduled_versions_down_with_it(client, runtime, owner):
    made, at = published_with_a_scheduled_version(client, runtime, owner)
    live, later = made.version_ids
    assert client.post(f"/api/models/{made.id}/unpublish", json={}, headers=owner["key"]).status_code == 200
    assert statuses(runtime, made.id) == (S.Unpublished, {live: S.Unpublished, later: S.Unpublished})
    assert scheduled_for(runtime, later) == at  # kept, for a republish before it
    with runtime.db.session() as session:
        moves = session.execute(
            select(StatusTransition.from_status, StatusTransition.to_status).where(
                StatusTransition.entity_id == later, StatusTransition.entity_type == "ModelVersion"
            )
        ).all()
    assert (S.Scheduled, S.Unpublished) in [tuple(move) for move in moves]  # logged like every move


def test_republishing_before_the_time_schedules_the_version_again(client, runtime, owner):
    made, at = published_with_a_scheduled_version(client, runtime, owner)
    live, later = made.version_ids
    client.post(f"/api/models/{made.id}/unpublish", json={}, headers=owner["key"])
    response = client.post(f"/api/models/{made.id}/publish", json={}, headers=owner["key"])
    assert response.status_code == 200, response.text
    assert statuses(runtime, made.id) == (S.Published, {live: S.Published, later: S.Scheduled})
    assert scheduled_for(runtime, later) == at
    body = client.get(f"/api/model-versions/{later}", headers=owner["key"]).json()
    assert "unpublishedWithModel" not in body["meta"] and body["published_at"] is None
    run_scheduler(runtime)
    assert statuses(runtime, made.id)[1][later] == S.Scheduled  # not yet
    with runtime.db.transaction() as session:
        session.execute(update(ModelVersion).values(scheduled_for=utcnow() - timedelta(seconds=1)))
    run_scheduler(runtime)
    assert statuses(runtime, made.id)[1][later] == S.Published  # at its time


def test_a_version_whose_time_passed_while_down_comes_back_published(client, runtime, owner):
    made, _ = published_with_a_scheduled_version(client, runtime, owner)
    live, later = made.version_ids
    client.post(f"/api/models/{made.id}/unpublish", json={}, headers=owner["key"])
    with runtime.db.transaction() as session:
        session.execute(
            update(ModelVersion).where(ModelVersion.id == later).values(scheduled_for=utcnow() - timedelta(minutes=1))
        )
    assert client.post(f"/api/models/{made.id}/publish", json={}, headers=owner["key"]).status_code == 200
    assert statuses(runtime, made.id) == (S.Published, {live: S.Published, later: S.Published})


def test_the_last_version_going_down_carries_the_scheduled_ones(client, runtime, owner):
    made, at = published_with_a_scheduled_version(client, runtime, owner)
    live, later = made.version_ids
    response = client.post(f"/api/model-versions/{live}/unpublish", json={}, headers=owner["key"])
    assert response.status_code == 200, response.text
    assert statuses(runtime, made.id) == (S.Unpublished, {live: S.Unpublished, later: S.Unpublished})
    # Republishing brings back only what went down with the model, and nothing before its time: with nothing to
    # publish now the model stays down, saying why.
    response = client.post(f"/api/models/{made.id}/publish", json={}, headers=owner["key"])
    assert response.status_code == 409 and "scheduled for later" in response.json()["detail"], response.text
    assert statuses(runtime, made.id) == (S.Unpublished, {live: S.Unpublished, later: S.Unpublished})
    response = client.post(f"/api/models/{made.id}/publish", json={"version_ids": [live]}, headers=owner["key"])
    assert response.status_code == 200, response.text
    assert statuses(runtime, made.id) == (S.Published, {live: S.Published, later: S.Unpublished})
    assert scheduled_for(runtime, later) == at


def test_a_carried_move_is_never_one_asked_for(client, runtime, owner):
    """Scheduled → Unpublished happens only with the model: a Scheduled version cannot be unpublished alone."""
    made, _ = published_with_a_scheduled_version(client, runtime, owner)
    later = made.version_ids[1]
    response = client.post(f"/api/model-versions/{later}/unpublish", json={}, headers=owner["key"])
    assert response.status_code == 409 and response.json()["status"] == "Scheduled"
    assert statuses(runtime, made.id)[1][later] == S.Scheduled


def test_deleting_the_last_published_version_carries_the_scheduled_ones(client, runtime, owner):
    made, _ = published_with_a_scheduled_version(client, runtime, owner)
    live, later = made.version_ids
    assert client.delete(f"/api/model-versions/{live}", headers=owner["key"]).status_code == 204
    assert statuses(runtime, made.id) == (S.Unpublished, {live: S.Deleted, later: S.Unpublished})
    run_scheduler(runtime)  # nothing to publish while the model is down
    assert statuses(runtime, made.id)[1][later] == S.Unpublished
