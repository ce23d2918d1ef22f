"""The v1 images feed, tags, creators, /me and /enums."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from modelyard.accounts.scopes import TokenScope
from modelyard.images.models import Image
from tests.api_v1.test_models import publish_posts
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user

IMAGE_ITEM = {
    "id": int, "url": str, "width": int, "height": int, "nsfwLevel": str, "type": str, "nsfw": bool,
    "browsingLevel": int, "createdAt": str, "postId": int, "stats": dict, "username": str, "baseModel": str,
    "modelVersionIds": list,
}  # fmt: skip


@pytest.fixture
def owner(runtime):
    return create_user(runtime, username="painter")


def test_images_feed_fields_levels_and_cursors(runtime, client, owner):
    made = create_model(runtime, owner, published=True, versions=3)
    draft = create_model(runtime, owner, name="Draft")
    publish_posts(runtime)
    with runtime.db.transaction() as session:
        session.execute(update(Image).where(Image.id == made.image_ids[0]).values(nsfw_level=8, meta={"prompt": "ink"}))
    body = client.get("/api/v1/images").json()
    assert sorted(item["id"] for item in body["items"]) == sorted(made.image_ids[1:])  # PG only; no drafts
    item = body["items"][0]
    for name, kind in IMAGE_ITEM.items():
        assert isinstance(item[name], kind), (name, item)
    assert item["meta"] is None and item["username"] == "painter" and item["nsfwLevel"] == "None"
    adult = client.get("/api/v1/images?nsfw=true&withMeta=true").json()["items"]
    assert [(i["id"], i["nsfwLevel"], i["meta"]) for i in adult] == [(made.image_ids[0], "X", {"prompt": "ink"})]
    assert len(client.get("/api/v1/images?nsfw=X").json()["items"]) == 3
    assert client.get(f"/api/v1/images?modelVersionId={draft.version_ids[0]}").json()["items"] == []
    walked, url = [], "/api/v1/images?limit=1&browsingLevel=31"
    while url:
        page = client.get(url).json()
        walked += [i["id"] for i in page["items"]]
        url = page["metadata"].get("nextPage", "").removeprefix("http://testserver")
    assert walked == sorted(made.image_ids, reverse=True)
    assert client.get("/api/v1/images?baseModels=Nope").status_code == 400
    assert client.get(f"/api/v1/images?modelId={made.id}&browsingLevel=31").json()["items"]


def test_tags_and_creators(runtime, client, owner):
    create_model(runtime, owner, published=True, tags=["ink", "style"], with_post=False)
    create_model(runtime, owner, name="Second", published=True, tags=["ink"], with_post=False)
    create_model(runtime, create_user(runtime, username="drafter"), tags=["hidden"], with_post=False)
    tags = client.get("/api/v1/tags").json()
    assert [(t["name"], t["modelCount"]) for t in tags["items"]] == [("ink", 2), ("style", 1)]
    assert tags["items"][0]["link"] == "http://testserver/api/v1/models?tag=ink"
    assert tags["metadata"] == {"totalItems": 2, "currentPage": 1, "pageSize": 20, "totalPages": 1}
    paged = client.get("/api/v1/tags?limit=1").json()["metadata"]
    assert paged["totalPages"] == 2 and "page=2" in paged["nextPage"]
    creators = client.get("/api/v1/creators").json()
    assert creators["items"] == [
        {
            "username": "painter",
            "modelCount": 2,
            "link": "http://testserver/api/v1/models?username=painter",
            "image": None,
        }
    ]
    assert client.get("/api/v1/creators?query=nobody").json()["items"] == []


def test_me(runtime, client, owner):
    assert client.get("/api/v1/me").json() == {"error": "Unauthorized"}
    assert client.get("/api/v1/me").status_code == 401
    key = create_api_key(runtime, owner)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert me["username"] == "painter" and me["status"] == "active" and me["email"] == "painter@example.com"
    assert me["tokenScope"] == int(TokenScope.parse("Full")) and me["subject"]["type"] == "apiKey"
    narrow = create_api_key(runtime, owner, scopes=TokenScope.ModelsRead)
    assert "email" not in client.get(f"/api/v1/me?token={narrow}").json()


def test_enums(client):
    body = client.get("/api/v1/enums").json()
    assert "LORA" in body["ModelType"] and "Pruned Model" in body["ModelFileType"]
    assert "SD 1.5" in body["ActiveBaseModel"] and set(body["ActiveBaseModel"]) <= set(body["BaseModel"])
    assert body["BaseModelType"] == ["Standard", "Inpainting", "Refiner", "Pix2Pix"]


def test_errors_from_anywhere_under_v1_come_in_civitais_shape(client):
    missing = client.get("/api/v1/no-such-endpoint")
    assert missing.status_code == 404 and set(missing.json()) == {"error"}
    assert missing.headers["access-control-allow-origin"] == "*"
    unreadable = client.post(
        "/api/v1/model-versions/by-hash", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert unreadable.status_code == 400 and set(unreadable.json()) == {"error"}
    assert client.put("/api/v1/models").status_code == 405


def test_the_v1_api_is_described_at_docs(client):
    spec = client.get("/openapi.json").json()
    listed = {p["name"] for p in spec["paths"]["/api/v1/models"]["get"]["parameters"]}
    assert {"limit", "cursor", "types", "nsfw", "browsingLevel", "baseModels", "primaryFileOnly"} <= listed
    for path in ("/api/v1/models/{model_id}", "/api/v1/model-versions/by-hash/{hash_value}", "/api/v1/images"):
        assert path in spec["paths"]
    assert "/api/model-versions/{version_id}/uploads" in spec["paths"]  # our own API, beside it


def test_a_doubled_leading_slash_is_forgiven(client):
    response = client.get("http://testserver//api/v1/enums")  # (a bare "//api" would name a host)
    assert response.status_code == 200 and "ModelType" in response.json()
