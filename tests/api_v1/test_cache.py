"""Anonymous model lists and hash lookups are served from the cache until any model changes: a change made through
the services shows on the very next request; a viewer's own list is never cached."""

from __future__ import annotations

from sqlalchemy import update

from modelyard.catalog.models import Model
from tests.api_v1.test_versions import hashes_of
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user


def test_an_anonymous_page_is_served_from_the_cache_until_a_model_changes(runtime, client):
    owner = create_user(runtime, username="cacher")
    made = create_model(runtime, owner, name="First", published=True, with_post=False)
    first = client.get("/api/v1/models?limit=5&sort=Newest")
    assert [item["name"] for item in first.json()["items"]] == ["First"]
    hits = runtime.cache.hits["local"] + runtime.cache.hits["redis"]
    # The same question with its parameters in another order is the same page.
    again = client.get("/api/v1/models?sort=Newest&limit=5")
    assert again.content == first.content and again.headers["cache-control"].startswith("public")
    assert runtime.cache.hits["local"] + runtime.cache.hits["redis"] == hits + 1
    # A change the services do not see (a raw write) is not noticed: the page is the cached one...
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == made.id).values(name="Renamed behind its back"))
    assert client.get("/api/v1/models?limit=5&sort=Newest").json()["items"][0]["name"] == "First"
    # ...while any change through them shows at once.
    create_model(runtime, owner, name="Second", published=True, with_post=False)
    names = [item["name"] for item in client.get("/api/v1/models?limit=5&sort=Newest").json()["items"]]
    assert names == ["Second", "Renamed behind its back"]


def test_a_viewers_own_list_is_never_cached(runtime, client):
    owner = create_user(runtime, username="drafter")
    key = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    create_model(runtime, owner, name="Public", published=True, with_post=False)
    before = runtime.cache.misses
    response = client.get("/api/v1/models", headers=key)
    assert response.status_code == 200 and response.headers["cache-control"] == "private, no-store"
    client.get("/api/v1/models", headers=key)
    assert runtime.cache.misses == before  # the cache was not even asked


def test_a_hash_lookup_is_cached_and_forgotten_when_its_model_goes_down(runtime, client):
    owner = create_user(runtime, username="hasher")
    made = create_model(runtime, owner, name="Hashed", published=True, with_post=False)
    sha256 = hashes_of(runtime, made.file_ids[0])["SHA256"]
    first = client.get(f"/api/v1/model-versions/by-hash/{sha256.lower()}")
    assert first.status_code == 200
    assert client.get(f"/api/v1/model-versions/by-hash/{sha256}").content == first.content  # any case, one entry
    key = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    unpublished = client.post(f"/api/models/{made.id}/unpublish", json={"kind": "voluntary"}, headers=key)
    assert unpublished.status_code == 200, unpublished.text
    assert client.get(f"/api/v1/model-versions/by-hash/{sha256}").status_code == 404


def test_errors_are_never_cached(runtime, client):
    missing = "AB" * 32
    assert client.get(f"/api/v1/model-versions/by-hash/{missing}").status_code == 404
    assert client.get("/api/v1/models?limit=abc").status_code == 400
    assert runtime.cache.get(f"api-v1:by-hash:{missing}") is None
    assert runtime.cache.get("api-v1:models?limit=abc") is None
    assert client.get("/api/v1/models?limit=2").status_code == 200
    assert runtime.cache.get("api-v1:models?limit=2") is not None  # the same keys do hold successes
