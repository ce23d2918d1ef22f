"""A download URL handed out stops working once its content is withdrawn (a version or model deleted, a model
taken down), though the object is kept for moderators and for a restore: the object moves aside and its row
follows. Runs against local storage and against a real S3 server (scaled pass)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from modelyard.accounts.models import Role
from modelyard.catalog.files.placement import WITHDRAWN
from modelyard.catalog.models import Model, ModelFile
from modelyard.catalog.tasks import purge_deleted
from modelyard.core.db import utcnow
from modelyard.core.jobs.models import Job, JobStatus
from modelyard.core.jobs.runner import execute
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import create_api_key, create_user


@pytest.fixture
def owner(runtime):
    return create_user(runtime)


@pytest.fixture
def made(runtime, owner) -> ModelFixture:
    return create_model(runtime, owner, published=True, versions=2, with_post=False)


@pytest.fixture
def moderator(runtime) -> str:
    return create_api_key(runtime, create_user(runtime, role=Role.moderator))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def download_url(client, version_id: int, key: str | None = None) -> str:
    params = {"token": key} if key else {}
    response = client.get(f"/api/download/models/{version_id}", params=params, follow_redirects=False)
    assert response.status_code == 307, response.text
    return str(response.headers["location"])


def fetch(client, url: str) -> httpx.Response:
    """A download URL as a download manager fetches it: this server's /files, or the bucket."""
    location = urlsplit(url)
    if location.netloc in ("", "testserver"):
        return client.get(f"{location.path}?{location.query}")
    return httpx.get(url)


def serves(client, url: str, runtime, file_id: int) -> bool:
    response = fetch(client, url)
    return response.status_code == 200 and response.content == runtime.storage.read_bytes(key_of(runtime, file_id))


def key_of(runtime, file_id: int) -> str:
    with runtime.db.session() as session:
        stored = session.get(ModelFile, file_id)
        assert stored is not None
        return stored.storage_key


def run_placements(runtime) -> int:
    """Run the queued moves as a worker would (again while they queue more); how many ran."""
    ran = 0
    while True:
        with runtime.db.session() as session:
            pending = session.scalars(
                select(Job.id).where(Job.name == "catalog.place_file_objects", Job.status == JobStatus.pending)
            ).all()
        if not pending:
            return ran
        for job_id in pending:
            execute(runtime, job_id)
            ran += 1


def test_deleting_a_version_stops_its_download_urls_at_once(runtime, client, owner, made, moderator):
    first, second = made.version_ids
    handed_out = download_url(client, first)
    other = download_url(client, second)
    assert serves(client, handed_out, runtime, made.file_ids[0])
    owner_key = create_api_key(runtime, owner)

    assert client.delete(f"/api/model-versions/{first}", headers=bearer(owner_key)).status_code == 204
    assert run_placements(runtime) >= 1

    assert fetch(client, handed_out).status_code == 404
    assert key_of(runtime, made.file_ids[0]).startswith(WITHDRAWN)
    assert serves(client, download_url(client, first, moderator), runtime, made.file_ids[0])  # kept for them
    assert serves(client, other, runtime, made.file_ids[1])  # the other version is untouched
    assert not key_of(runtime, made.file_ids[1]).startswith(WITHDRAWN)


def test_a_deleted_model_comes_back_with_its_files_on_restore(runtime, client, owner, made, moderator):
    urls = [download_url(client, version_id) for version_id in made.version_ids]
    owner_key = create_api_key(runtime, owner)
    assert client.delete(f"/api/models/{made.id}", headers=bearer(owner_key)).status_code == 204
    run_placements(runtime)
    assert [fetch(client, url).status_code for url in urls] == [404, 404]

    restored = client.post(f"/api/models/{made.id}/restore", headers=bearer(moderator))
    assert restored.status_code == 200, restored.text
    run_placements(runtime)

    for version_id, file_id in zip(made.version_ids, made.file_ids, strict=True):
        assert not key_of(runtime, file_id).startswith(WITHDRAWN)
        assert serves(client, download_url(client, version_id, owner_key), runtime, file_id)


def test_a_take_down_stops_download_urls_and_lifting_it_brings_them_back(runtime, client, made, moderator):
    handed_out = download_url(client, made.version_ids[0])
    taken = client.patch(f"/api/models/{made.id}", json={"mode": "TakenDown"}, headers=bearer(moderator))
    assert taken.status_code == 200, taken.text
    run_placements(runtime)
    assert fetch(client, handed_out).status_code == 404
    assert serves(client, download_url(client, made.version_ids[0], moderator), runtime, made.file_ids[0])

    lifted = client.patch(f"/api/models/{made.id}", json={"clear_mode": True}, headers=bearer(moderator))
    assert lifted.status_code == 200, lifted.text
    run_placements(runtime)
    assert serves(client, download_url(client, made.version_ids[0]), runtime, made.file_ids[0])


def test_a_delete_undone_before_its_move_ran_leaves_the_files_in_place(runtime, client, owner, made, moderator):
    """Moves follow the state when they run, whatever order the changes came in."""
    owner_key = create_api_key(runtime, owner)
    assert client.delete(f"/api/models/{made.id}", headers=bearer(owner_key)).status_code == 204
    assert client.post(f"/api/models/{made.id}/restore", headers=bearer(moderator)).status_code == 200
    run_placements(runtime)
    assert not any(key_of(runtime, file_id).startswith(WITHDRAWN) for file_id in made.file_ids)
    assert serves(client, download_url(client, made.version_ids[0], owner_key), runtime, made.file_ids[0])


def test_the_purge_deletes_the_object_set_aside(runtime, client, owner, made):
    owner_key = create_api_key(runtime, owner)
    assert client.delete(f"/api/models/{made.id}", headers=bearer(owner_key)).status_code == 204
    run_placements(runtime)
    aside = key_of(runtime, made.file_ids[0])
    assert runtime.storage.exists(aside)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == made.id).values(deleted_at=utcnow() - timedelta(days=365)))
    with runtime.db.transaction() as session:
        purge_deleted.spec.func(session)
    assert not runtime.storage.exists(aside)
    assert not runtime.storage.exists(aside.removeprefix(WITHDRAWN))
