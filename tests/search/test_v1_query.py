"""`query` on the public API (`/api/v1/models`, `/api/v1/images`) goes through the search: what it finds, its
order, its cursors and page numbers, the filters that still apply, and that a search's page is never served
from the body cache after the index moved on."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from modelyard.catalog.models import Model, Tag
from modelyard.core.runtime import Runtime
from modelyard.images.models import Image, TagOnImage
from modelyard.search import service
from modelyard.search.types import SearchQuery
from tests.images.test_feed import add_image
from tests.search.test_listing_search import index_all
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_api_key, create_user


@pytest.fixture
def owner(runtime: Runtime) -> UserFixture:
    return create_user(runtime, username="quill")


def body(client: TestClient, url: str, headers: dict[str, str] | None = None) -> Any:
    response = client.get(url, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def ids(client: TestClient, url: str) -> list[int]:
    return [item["id"] for item in body(client, url)["items"]]


def change(runtime: Runtime, model_id: int, **values: Any) -> None:
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == model_id).values(**values))


# --- models -----------------------------------------------------------------------------------------------------


def test_models_are_found_by_what_describes_them_not_only_their_name(
    runtime: Runtime, client: TestClient, owner: UserFixture
) -> None:
    tagged = create_model(runtime, owner, name="Alpha", published=True, with_post=False, tags=["sumie"])
    described = create_model(runtime, owner, name="Beta", published=True, with_post=False)
    change(runtime, described.id, description_html="<p>Loose <b>gouache</b> strokes</p>")
    index_all(runtime)
    assert ids(client, "/api/v1/models?query=sumie&sort=Newest") == [tagged.id]
    assert ids(client, "/api/v1/models?query=gouache&sort=Newest") == [described.id]
    assert ids(client, "/api/v1/models?query=GOUACHE")[0] == described.id  # best match first


def test_the_default_order_is_the_best_match(runtime: Runtime, client: TestClient, owner: UserFixture) -> None:
    named = create_model(runtime, owner, name="Heron", published=True, with_post=False)
    described = create_model(runtime, owner, name="Bird", published=True, with_post=False)
    dusk = create_model(runtime, owner, name="Heron at dusk", published=True, with_post=False)
    change(runtime, described.id, description_html="<p>A heron by the river</p>", download_count=90)
    change(runtime, dusk.id, download_count=100)
    index_all(runtime)
    with runtime.db.session() as session:  # the search's relevance: words and meaning fused
        relevance = service.search(session, None, SearchQuery(index="models", text="heron", mode="hybrid"))
    by_relevance = [hit.entity_id for hit in relevance.hits]
    assert ids(client, "/api/v1/models?query=heron") == by_relevance
    assert ids(client, "/api/v1/models?query=heron&sort=Highest Rated") == by_relevance
    assert ids(client, "/api/v1/models?query=heron&sort=Newest") == [dusk.id, described.id, named.id]
    by_downloads = [dusk.id, described.id, named.id]
    assert ids(client, "/api/v1/models?query=heron&sort=Most Downloaded") == by_downloads
    assert by_relevance != by_downloads


def test_a_search_pages_by_its_signed_cursor(runtime: Runtime, client: TestClient, owner: UserFixture) -> None:
    made = [create_model(runtime, owner, name=f"Ink {n}", published=True, with_post=False).id for n in range(5)]
    create_model(runtime, owner, name="Watercolor", published=True, with_post=False)
    index_all(runtime)
    seen: list[int] = []
    url = "/api/v1/models?query=ink&sort=Newest&limit=2"
    while url:
        page = body(client, url)
        seen.extend(item["id"] for item in page["items"])
        metadata = page["metadata"]
        if "nextCursor" not in metadata:
            assert "nextPage" not in metadata
            break
        assert not metadata["nextCursor"].isdigit(), "a search's cursor, not an offset"
        assert metadata["nextPage"].startswith("http://testserver/api/v1/models?")
        url = metadata["nextPage"].removeprefix("http://testserver")
    assert seen == made[::-1]


def test_a_search_is_paged_by_number_too(runtime: Runtime, client: TestClient, owner: UserFixture) -> None:
    made = [create_model(runtime, owner, name=f"Ink {n}", published=True, with_post=False).id for n in range(3)]
    index_all(runtime)
    first = body(client, "/api/v1/models?query=ink&sort=Newest&limit=2&page=1")
    assert [item["id"] for item in first["items"]] == made[:0:-1]
    assert first["metadata"]["currentPage"] == 1 and "page=2" in first["metadata"]["nextPage"]
    assert ids(client, "/api/v1/models?query=ink&sort=Newest&limit=2&page=2") == [made[0]]
    assert ids(client, "/api/v1/models?query=ink&sort=Newest&limit=2&page=3") == []


def test_the_lists_filters_and_levels_still_apply(runtime: Runtime, client: TestClient, owner: UserFixture) -> None:
    other = create_user(runtime, username="painter")
    lora = create_model(runtime, owner, name="Ink LoRA", published=True, with_post=False, tags=["wash"])
    theirs = create_model(runtime, other, name="Ink VAE", published=True, with_post=False)
    adult = create_model(runtime, owner, name="Ink adult", published=True, with_post=False)
    change(runtime, adult.id, nsfw=True, nsfw_level=4)
    change(runtime, theirs.id, allow_no_credit=False)
    index_all(runtime)
    search = "/api/v1/models?query=ink&sort=Newest"
    assert ids(client, search) == [theirs.id, lora.id]  # PG unless asked
    assert ids(client, f"{search}&nsfw=true") == [adult.id, theirs.id, lora.id]  # as the list without a query
    assert ids(client, f"{search}&browsingLevel=4") == [adult.id]
    assert ids(client, f"{search}&tag=wash") == [lora.id]
    assert ids(client, f"{search}&username=PAINTER") == [theirs.id]
    assert ids(client, f"{search}&allowNoCredit=false") == [theirs.id]
    assert ids(client, f"{search}&modelVersionIds={lora.version_ids[0]}") == [lora.id]
    assert ids(client, f"{search}&ids={theirs.id}") == [theirs.id]
    assert ids(client, f"{search}&baseModels=SDXL 1.0") == []
    key = create_api_key(runtime, owner)
    assert client.get(f"{search}&favorites=true").status_code == 401
    assert body(client, f"{search}&favorites=true", {"Authorization": f"Bearer {key}"})["items"] == []


def test_a_searchs_page_is_not_served_from_the_cache_after_the_index_moves_on(
    runtime: Runtime, client: TestClient, owner: UserFixture
) -> None:
    create_model(runtime, owner, name="Ink first", published=True, with_post=False)
    index_all(runtime)
    assert len(ids(client, "/api/v1/models?query=ink&sort=Newest")) == 1
    late = create_model(runtime, owner, name="Ink late", published=True, with_post=False)
    index_all(runtime)
    assert ids(client, "/api/v1/models?query=ink&sort=Newest")[0] == late.id


def test_the_query_parameter_is_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/models", "/api/v1/images"):
        (query,) = [p for p in spec[path]["get"]["parameters"] if p["name"] == "query"]
        assert "tags" in query["description"]


# --- images -----------------------------------------------------------------------------------------------------


def tag_image(runtime: Runtime, image_id: int, name: str) -> int:
    with runtime.db.transaction() as session:
        tag = Tag(name=name)
        session.add(tag)
        session.flush()
        session.add(TagOnImage(image_id=image_id, tag_id=tag.id))
        return tag.id


def test_images_are_found_by_prompt_tag_and_creator(runtime: Runtime, client: TestClient, owner: UserFixture) -> None:
    heron = add_image(runtime, owner, meta={"prompt": "a grey heron standing in reeds"})
    tagged = add_image(runtime, owner, meta={"prompt": "a portrait"})
    tag_id = tag_image(runtime, tagged, "kingfisher")
    theirs = add_image(runtime, create_user(runtime, username="painter"), meta={"prompt": "still life"})
    index_all(runtime)
    assert ids(client, "/api/v1/images?query=heron&sort=Newest") == [heron]
    assert ids(client, "/api/v1/images?query=kingfisher&sort=Newest") == [tagged]
    assert ids(client, "/api/v1/images?query=painter&sort=Newest") == [theirs]
    assert ids(client, "/api/v1/images?query=heron")[0] == heron  # best match first without a sort
    assert ids(client, f"/api/v1/images?query=kingfisher&sort=Newest&tags={tag_id}") == [tagged]
    assert ids(client, f"/api/v1/images?query=heron&sort=Newest&imageId={tagged}") == []


def test_a_prompt_its_owner_hid_is_not_searchable(runtime: Runtime, client: TestClient, owner: UserFixture) -> None:
    add_image(runtime, owner, meta={"prompt": "a secret lighthouse"}, hide_meta=True)
    shown = add_image(runtime, owner, meta={"prompt": "an open lighthouse"})
    index_all(runtime)
    assert ids(client, "/api/v1/images?query=lighthouse&sort=Newest") == [shown]
    assert ids(client, "/api/v1/images?query=secret&sort=Newest") == []


def test_an_image_search_pages_by_its_cursor_and_keeps_levels(
    runtime: Runtime, client: TestClient, owner: UserFixture
) -> None:
    made = [add_image(runtime, owner, meta={"prompt": f"heron number {n}"}) for n in range(3)]
    adult = add_image(runtime, owner, level=4, meta={"prompt": "heron at night"})
    index_all(runtime)
    first = body(client, "/api/v1/images?query=heron&sort=Newest&limit=2")
    assert [item["id"] for item in first["items"]] == made[:0:-1]
    cursor = first["metadata"]["nextCursor"]
    assert not str(cursor).isdigit()
    second = body(client, f"/api/v1/images?query=heron&sort=Newest&limit=2&cursor={cursor}")
    assert [item["id"] for item in second["items"]] == [made[0]] and "nextCursor" not in second["metadata"]
    assert ids(client, "/api/v1/images?query=heron&sort=Newest&browsingLevel=4") == [adult]
    # Without a query the cursor is still an image id.
    assert client.get(f"/api/v1/images?cursor={cursor}").status_code == 400
    assert client.get(f"/api/v1/images?cursor={made[1]}").status_code == 200
    with runtime.db.transaction() as session:  # hidden by its moderation behind the index's back
        session.execute(update(Image).where(Image.id == made[2]).values(nsfw_level=4))
    assert ids(client, "/api/v1/images?query=heron&sort=Newest") == made[1::-1]
