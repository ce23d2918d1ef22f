"""Model lists and hash lookups are served from the cache until any model changes: a change made through the services
shows on the very next request. A list page is shared by everyone who sees only the public catalog, signed in or
not; a page holding what only its caller may see, or their key, is never cached."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from modelyard.accounts.models import Role
from modelyard.catalog.enums import Availability
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
    base = "api-v1:http://testserver"  # bodies are kept per address they were built for (`core.forwarded`)
    assert runtime.cache.get(f"{base}:by-hash:{missing}") is None
    assert runtime.cache.get(f"{base}:models?limit=abc") is None
    assert client.get("/api/v1/models?limit=2").status_code == 200
    assert runtime.cache.get(f"{base}:models?limit=2") is not None  # the same keys do hold successes


def test_a_signed_in_caller_who_owns_nothing_is_given_the_page_anyone_gets(runtime, client):
    create_model(runtime, create_user(runtime, username="maker"), name="Shared", published=True, with_post=False)
    reader = {"Authorization": f"Bearer {create_api_key(runtime, create_user(runtime, username='reader'))}"}
    anyone = client.get("/api/v1/models?limit=5")
    hits = runtime.cache.hits["local"] + runtime.cache.hits["redis"]
    theirs = client.get("/api/v1/models?limit=5", headers=reader)
    assert theirs.content == anyone.content
    assert runtime.cache.hits["local"] + runtime.cache.hits["redis"] == hits + 1
    assert theirs.headers["cache-control"] == "private, no-store"  # still not for a shared cache on the way


@pytest.mark.parametrize("who", ["owner", "moderator"])
def test_who_sees_more_than_anyone_is_never_given_the_shared_page(runtime, client, who):
    owner = create_user(runtime, username="keeper")
    create_model(runtime, owner, name="Listed", published=True, with_post=False)
    private = create_model(runtime, owner, name="Kept", published=True, with_post=False)
    with runtime.db.transaction() as session:  # before any page is cached
        session.execute(update(Model).where(Model.id == private.id).values(availability=Availability.Private))
    caller = owner if who == "owner" else create_user(runtime, role=Role.moderator)
    key = {"Authorization": f"Bearer {create_api_key(runtime, caller)}"}
    assert names(client.get("/api/v1/models?sort=Newest")) == ["Listed"]  # cached for anyone
    for _ in range(2):
        assert names(client.get("/api/v1/models?sort=Newest", headers=key)) == ["Kept", "Listed"]
    assert names(client.get("/api/v1/models?sort=Newest")) == ["Listed"]


def test_a_page_holding_its_callers_key_is_never_cached(runtime, client):
    owner = create_user(runtime, username="paged")
    for name in ("One", "Two"):
        create_model(runtime, owner, name=name, published=True, with_post=False)
    keys = [create_api_key(runtime, create_user(runtime)) for _ in range(2)]
    before = runtime.cache.misses
    for key in keys:  # nextPage is the current query with the cursor: it carries the caller's key...
        assert f"token={key}" in client.get(f"/api/v1/models?limit=1&token={key}").json()["metadata"]["nextPage"]
    assert runtime.cache.misses == before  # ...so such a page is not kept, keys and all, in the cache
    assert "token" not in client.get("/api/v1/models?limit=1").json()["metadata"]["nextPage"]


def test_bookmarks_are_their_owners_and_need_a_key(runtime, client):
    reader = {"Authorization": f"Bearer {create_api_key(runtime, create_user(runtime))}"}
    assert client.get("/api/v1/models?favorites=true", headers=reader).json()["items"] == []
    assert client.get("/api/v1/models?favorites=true").status_code == 401


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]
