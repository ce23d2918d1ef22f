"""The keys of `meta` the server writes (unpublishing details, what went down or was deleted with the model, the
early-access purchase mark) are the server's alone: an owner's edit of `meta` neither erases, changes nor adds
them, whatever it sends, and the rules they carry still hold after it."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.accounts.models import Role
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.lifecycle.transitions import SERVER_META_KEYS
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user


@pytest.fixture
def people(runtime: Runtime) -> dict[str, Any]:
    owner = create_user(runtime)
    mod = create_user(runtime, role=Role.moderator)
    return {
        "owner": owner,
        "owner_key": {"Authorization": f"Bearer {create_api_key(runtime, owner)}"},
        "mod_key": {"Authorization": f"Bearer {create_api_key(runtime, mod)}"},
    }


def bought(runtime: Runtime, version_id: int) -> None:
    with runtime.db.transaction() as session:
        version = session.get(ModelVersion, version_id)
        assert version is not None
        effects.record_early_access_purchase(session, version)


def version_meta(runtime: Runtime, version_id: int) -> dict[str, Any]:
    with runtime.db.session() as session:
        version = session.get(ModelVersion, version_id)
        assert version is not None
        return dict(version.meta)


def test_the_server_keys_are_the_ones_the_lifecycle_writes() -> None:
    assert {
        "unpublishedAt", "unpublishedBy", "unpublishedReason", "customMessage", "unpublishedWithModel",
        "deletedWithModel", "hadEarlyAccessPurchase",
    } == SERVER_META_KEYS  # fmt: skip


@pytest.mark.parametrize(
    "sent",
    [{}, {"hadEarlyAccessPurchase": False}, {"hadEarlyAccessPurchase": None, "note": "mine"}],
    ids=["erase", "overwrite", "null"],
)
def test_an_owner_cannot_clear_the_early_access_purchase_and_then_unpublish(client, runtime, people, sent):
    made = create_model(runtime, people["owner"], published=True)
    version_id = made.version_ids[0]
    bought(runtime, version_id)
    response = client.patch(f"/api/model-versions/{version_id}", json={"meta": sent}, headers=people["owner_key"])
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["hadEarlyAccessPurchase"] is True
    assert version_meta(runtime, version_id) == {"hadEarlyAccessPurchase": True, **{
        key: value for key, value in sent.items() if key not in SERVER_META_KEYS
    }}  # fmt: skip
    for path in (f"/api/model-versions/{version_id}/unpublish", f"/api/models/{made.id}/unpublish"):
        refused = client.post(path, json={}, headers=people["owner_key"])
        assert refused.status_code == 403 and "early access" in refused.json()["detail"]
    assert client.delete(f"/api/models/{made.id}", headers=people["owner_key"]).status_code == 403


def test_an_owner_cannot_add_server_keys(client, runtime, people):
    """A version the owner took down alone must not come back with the model because its meta says it went down
    with it; nor can an owner write a moderator's reason or a purchase mark."""
    made = create_model(runtime, people["owner"], versions=2, published=True)
    alone, other = made.version_ids
    client.post(f"/api/model-versions/{alone}/unpublish", json={}, headers=people["owner_key"])
    forged = {key: True for key in SERVER_META_KEYS} | {"unpublishedReason": "forged", "note": 1}
    response = client.patch(f"/api/model-versions/{alone}", json={"meta": forged}, headers=people["owner_key"])
    assert response.status_code == 200, response.text
    meta = version_meta(runtime, alone)
    assert meta["note"] == 1
    assert "unpublishedWithModel" not in meta and "hadEarlyAccessPurchase" not in meta
    assert "deletedWithModel" not in meta and "unpublishedReason" not in meta
    assert meta["unpublishedAt"] is not True  # the server's own value, kept
    client.post(f"/api/models/{made.id}/unpublish", json={}, headers=people["owner_key"])
    client.post(f"/api/models/{made.id}/publish", json={}, headers=people["owner_key"])
    states = {
        v["id"]: v["status"]
        for v in client.get(f"/api/models/{made.id}", headers=people["owner_key"]).json()["versions"]
    }
    assert states == {alone: "Unpublished", other: "Published"}


def test_a_moderators_reason_and_message_survive_the_owners_edit(client, runtime, people):
    made = create_model(runtime, people["owner"], published=True)
    body = {"kind": "violation", "reason": "Impersonation", "custom_message": "Contact support"}
    assert client.post(f"/api/models/{made.id}/unpublish", json=body, headers=people["mod_key"]).status_code == 200
    for sent in ({}, {"unpublishedReason": "none", "customMessage": "", "unpublishedBy": -5}):
        response = client.patch(f"/api/models/{made.id}", json={"meta": sent}, headers=people["owner_key"])
        assert response.status_code == 200, response.text
        with runtime.db.session() as session:
            model = session.get(Model, made.id)
            assert model is not None
            assert model.meta["unpublishedReason"] == "Impersonation"
            assert model.meta["customMessage"] == "Contact support"
            assert model.meta["unpublishedBy"] != -5
    version_id = made.version_ids[0]
    client.patch(f"/api/model-versions/{version_id}", json={"meta": {}}, headers=people["owner_key"])
    assert version_meta(runtime, version_id)["unpublishedWithModel"] is True  # still comes back with the model
