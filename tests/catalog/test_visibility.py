"""One visibility rule, whatever the way in: what a viewer may not see answers exactly like what does not exist."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from modelyard.accounts.models import Role
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.enums import Availability, ModelStatus, ScanResult
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user

VIEWERS = ("anonymous", "other", "owner", "moderator")


@pytest.fixture
def keys(runtime):
    owner = create_user(runtime)
    other = create_user(runtime)
    mod = create_user(runtime, role=Role.moderator)
    return {
        "owner_user": owner,
        "anonymous": {},
        "other": {"Authorization": f"Bearer {create_api_key(runtime, other)}"},
        "owner": {"Authorization": f"Bearer {create_api_key(runtime, owner)}"},
        "moderator": {"Authorization": f"Bearer {create_api_key(runtime, mod)}"},
    }


def make(runtime, owner, state: str):
    made = create_model(runtime, owner, versions=2, published=state != "draft")
    with runtime.db.transaction() as session:
        if state == "unpublished":
            session.execute(update(Model).where(Model.id == made.id).values(status=ModelStatus.Unpublished))
        elif state == "private":
            session.execute(update(Model).where(Model.id == made.id).values(availability=Availability.Private))
        elif state == "deleted":
            session.execute(update(Model).where(Model.id == made.id).values(status=ModelStatus.Deleted))
        elif state == "scheduled":
            session.execute(update(Model).where(Model.id == made.id).values(status=ModelStatus.Scheduled))
    return made


# state → which viewers see the model
SEES = {
    "published": {"anonymous", "other", "owner", "moderator"},
    "draft": {"owner", "moderator"},
    "scheduled": {"owner", "moderator"},
    "unpublished": {"owner", "moderator"},
    "private": {"owner", "moderator"},
    "deleted": {"moderator"},
}


@pytest.mark.parametrize("state", list(SEES))
def test_model_and_version_reads(runtime, client, keys, state):
    made = make(runtime, keys["owner_user"], state)
    missing = 2**31 - 1
    for viewer in VIEWERS:
        headers = keys[viewer]
        expected = 200 if viewer in SEES[state] else 404
        response = client.get(f"/api/models/{made.id}", headers=headers)
        assert response.status_code == expected, (viewer, response.text)
        if expected == 404:
            # Indistinguishable from a model that does not exist.
            absent = client.get(f"/api/models/{missing}", headers=headers).json()
            assert response.json()["detail"].replace(str(made.id), "N") == absent["detail"].replace(str(missing), "N")
        for version_id in made.version_ids:
            response = client.get(f"/api/model-versions/{version_id}", headers=headers)
            assert response.status_code == expected, (viewer, version_id)


@pytest.mark.parametrize("version_status", [ModelStatus.Draft, ModelStatus.Unpublished, ModelStatus.Deleted])
def test_hidden_versions_of_a_published_model(runtime, client, keys, version_status):
    made = create_model(runtime, keys["owner_user"], versions=2, published=True)
    hidden = made.version_ids[0]
    with runtime.db.transaction() as session:
        session.execute(update(ModelVersion).where(ModelVersion.id == hidden).values(status=version_status))
    for viewer in VIEWERS:
        sees = viewer == "moderator" or (viewer == "owner" and version_status != ModelStatus.Deleted)
        listed = [v["id"] for v in client.get(f"/api/models/{made.id}", headers=keys[viewer]).json()["versions"]]
        assert (hidden in listed) is sees, viewer
        status = client.get(f"/api/model-versions/{hidden}", headers=keys[viewer]).status_code
        assert status == (200 if sees else 404), viewer


@pytest.mark.parametrize("state", ["draft", "private", "deleted"])
def test_writes_to_invisible_models_answer_404_not_403(runtime, client, keys, state):
    made = make(runtime, keys["owner_user"], state)
    other = keys["other"]
    vid, fid = made.version_ids[0], made.file_ids[0]
    attempts = [
        client.patch(f"/api/models/{made.id}", json={"name": "mine"}, headers=other),
        client.post(f"/api/models/{made.id}/publish", json={}, headers=other),
        client.post(f"/api/models/{made.id}/unpublish", json={}, headers=other),
        client.delete(f"/api/models/{made.id}", headers=other),
        client.post(f"/api/models/{made.id}/versions", json={"name": "x", "base_model": "SD 1.5"}, headers=other),
        client.patch(f"/api/model-versions/{vid}", json={"name": "x"}, headers=other),
        client.post(f"/api/model-versions/{vid}/files", files={"file": ("a.safetensors", b"x")}, headers=other),
        client.delete(f"/api/model-files/{fid}", headers=other),
        client.get(f"/api/models/{made.id}/transitions", headers=other),
    ]
    assert [response.status_code for response in attempts] == [404] * len(attempts)


def test_writes_to_someone_elses_published_model_are_forbidden(runtime, client, keys):
    made = create_model(runtime, keys["owner_user"], published=True)
    other = keys["other"]
    assert client.patch(f"/api/models/{made.id}", json={"name": "mine"}, headers=other).status_code == 403
    assert client.delete(f"/api/model-files/{made.file_ids[0]}", headers=other).status_code == 403
    assert client.get(f"/api/models/{made.id}").json()["name"] == "Test model"


def test_a_key_without_models_read_does_not_unlock_drafts(runtime, client, keys):
    made = make(runtime, keys["owner_user"], "draft")
    narrow = create_api_key(runtime, keys["owner_user"], scopes=TokenScope.UserRead)
    assert client.get(f"/api/models/{made.id}", headers={"Authorization": f"Bearer {narrow}"}).status_code == 404


def test_the_dashboard_lists_only_your_own(runtime, client, keys):
    mine = create_model(runtime, keys["owner_user"], name="Mine")
    response = client.get("/api/me/models", headers=keys["other"])
    assert response.status_code == 200 and response.json()["items"] == []
    items = client.get("/api/me/models", headers=keys["owner"]).json()["items"]
    assert [item["id"] for item in items] == [mine.id]
    assert client.get("/api/me/models").status_code == 401


@pytest.mark.parametrize("scopes", [TokenScope.ModelsRead, TokenScope.full() & ~TokenScope.ModelsDelete])
def test_a_moderators_narrow_key_carries_no_staff_powers(runtime, client, keys, scopes):
    """Staff powers through a key need the Full scope, for seeing as for acting: the same rule on every way in."""
    mod = create_user(runtime, role=Role.moderator)
    narrow = {"Authorization": f"Bearer {create_api_key(runtime, mod, scopes=scopes)}"}
    hidden = {
        state: make(runtime, keys["owner_user"], state) for state in ("draft", "private", "unpublished", "deleted")
    }
    with runtime.db.transaction() as session:  # scanned clean: downloadable by those who see them
        clean = {"pickle_scan_result": ScanResult.Success, "virus_scan_result": ScanResult.Success}
        session.execute(update(ModelFile).values(**clean))
    for state, made in hidden.items():
        version_id = made.version_ids[0]
        for path in (
            f"/api/models/{made.id}",
            f"/api/model-versions/{version_id}",
            f"/api/v1/models/{made.id}",
            f"/api/v1/model-versions/{version_id}",
            f"/api/v1/model-versions/mini/{version_id}",
            f"/models/{made.id}",
            f"/api/download/models/{version_id}",
        ):
            assert client.get(path, headers=narrow, follow_redirects=False).status_code == 404, (state, path)
            seen = client.get(path, headers=keys["moderator"], follow_redirects=False)
            assert seen.status_code in (200, 307), (state, path)
    listed = client.get("/api/v1/models?limit=100", headers=narrow).json()["items"]
    assert not {item["id"] for item in listed} & {made.id for made in hidden.values()}
    assert client.get("/admin", headers=narrow).status_code == 403
    refused = client.post(f"/api/models/{hidden['deleted'].id}/restore", headers=narrow)
    assert refused.status_code == 403 and "Full scope" in refused.json()["detail"]
