"""`/api/v1/images` (reference civitai.md §1.6) over the one image listing: levels (the caller's own by default,
Civitai's `nsfw`/`browsingLevel` when named), every filter, cursor paging, hidden generation data, bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from modelyard.catalog.models import Tag
from modelyard.images.models import Image, TagOnImage
from tests.images.test_feed import add_image, set_level
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user


def listed(client, query: str = "", headers: dict[str, str] | None = None) -> list[int]:
    response = client.get(f"/api/v1/images?{query}", headers=headers or {})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def bearer(runtime, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(runtime, user)}"}


def test_an_anonymous_caller_gets_pg_unless_it_names_levels(runtime, client):
    owner = create_user(runtime)
    pg, soft, r, x = (add_image(runtime, owner, level=level) for level in (1, 2, 4, 8))
    add_image(runtime, owner, level=0)  # unrated: nobody's
    assert listed(client) == [pg]
    assert listed(client, "nsfw=false") == [pg]
    assert listed(client, "nsfw=true") == [x, r]  # Civitai: NSFW only
    assert listed(client, "nsfw=Soft") == [soft, pg]
    assert listed(client, "nsfw=mature") == [r, soft, pg]
    assert listed(client, "nsfw=X") == [x, r, soft, pg]
    assert listed(client, "browsingLevel=4&nsfw=false") == [r]
    assert listed(client, "browsingLevel=63") == [x, r, soft, pg]  # Blocked and unrated stay out


def test_a_member_gets_their_own_browsing_level_by_default(runtime, client):
    owner, member = create_user(runtime), create_user(runtime)
    pg, r = add_image(runtime, owner, level=1), add_image(runtime, owner, level=4)
    headers = bearer(runtime, member)
    assert listed(client, headers=headers) == [pg]
    set_level(runtime, member, 1 | 4)
    assert listed(client, headers=headers) == [r, pg]
    assert listed(client, "browsingLevel=1", headers=headers) == [pg]


def test_item_shape_and_hidden_generation_data(runtime, client):
    owner = create_user(runtime, username="inker")
    made = create_model(runtime, owner, published=True, with_post=False)
    shared = add_image(runtime, owner, meta={"prompt": "ink"}, version_id=made.version_ids[0])
    hidden = add_image(runtime, owner, meta={"prompt": "secret"}, hide_meta=True)
    items = {item["id"]: item for item in client.get("/api/v1/images?withMeta=true").json()["items"]}
    assert items[shared]["meta"] == {"prompt": "ink"} and items[hidden]["meta"] is None
    assert items[shared]["modelVersionIds"] == made.version_ids and items[shared]["baseModel"] == "SD 1.5"
    assert items[shared]["hash"] and items[shared]["stats"]["likeCount"] == 0 and items[shared]["username"] == "inker"
    assert client.get("/api/v1/images").json()["items"][0]["meta"] is None  # withMeta defaults to false
    own = client.get("/api/v1/images?withMeta=true", headers=bearer(runtime, owner)).json()["items"]
    assert {item["id"]: item["meta"] for item in own}[hidden] == {"prompt": "secret"}


def test_each_filter(runtime, client):
    owner, other = create_user(runtime, username="Painter"), create_user(runtime)
    made = create_model(runtime, owner, published=True, with_post=False)
    version = made.version_ids[0]
    posted = add_image(runtime, owner, version_id=version)
    made_with = add_image(runtime, other, made_with=version)
    lone = add_image(runtime, other)
    with runtime.db.transaction() as session:
        post_id = session.get(Image, posted).post_id
        tag = Tag(name="wash")
        session.add(tag)
        session.flush()
        session.add(TagOnImage(image_id=lone, tag_id=tag.id))
        tag_id = tag.id
    assert listed(client, f"postId={post_id}") == [posted]
    assert listed(client, f"modelId={made.id}") == [posted]
    assert listed(client, f"modelVersionId={version}") == [made_with, posted]
    assert listed(client, f"imageId={lone}") == [lone]
    assert listed(client, f"userId={other.id}") == [lone, made_with]
    assert listed(client, "username=PAINTER") == [posted]
    assert listed(client, f"tags={tag_id}") == [lone]
    assert listed(client, "baseModels=SD 1.5") == [posted]
    assert listed(client, "type=video") == []
    assert listed(client, "period=Day&sort=Oldest") == [posted, made_with, lone]
    assert listed(client, "sort=Most Reactions") == [lone, made_with, posted]


def test_cursor_paging_walks_every_image_once(runtime, client):
    owner = create_user(runtime)
    made = [add_image(runtime, owner) for _ in range(5)]
    walked, url = [], "/api/v1/images?limit=2"
    while url:
        body = client.get(url).json()
        walked += [item["id"] for item in body["items"]]
        url = body["metadata"].get("nextPage", "").replace("http://testserver", "")
    assert walked == made[::-1]
    assert listed(client, "limit=2&page=2") == made[::-1][2:4]


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("baseModels=Nope", "baseModels"),
        ("cursor=abc", "cursor"),
        ("postId=99999999999", "postId"),
        ("nsfw=maybe", "nsfw"),
        ("sort=Random", "sort"),
        ("period=Decade", "period"),
        ("type=pdf", "type"),
        ("tags=x", "tags"),
        ("username=a%00b", "NUL"),
        ("browsingLevel=64", "browsingLevel"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(runtime, client, query, word):
    response = client.get(f"/api/v1/images?{query}")
    assert response.status_code == 400 and word in response.json()["error"]


def test_images_of_any_post_not_only_showcases(runtime, client):
    owner, fan = create_user(runtime), create_user(runtime)
    made = create_model(runtime, owner, published=True)
    review = add_image(runtime, fan, version_id=made.version_ids[0])
    assert listed(client, f"modelVersionId={made.version_ids[0]}") == [review, made.image_ids[0]]


def test_an_unfinished_image_is_not_listed(runtime, client):
    owner = create_user(runtime)
    image_id = add_image(runtime, owner)
    with runtime.db.transaction() as session:
        session.execute(update(Image).where(Image.id == image_id).values(ingestion="Pending"))
    assert listed(client) == []
