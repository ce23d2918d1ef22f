"""The posts JSON API (`/api/posts`, `/api/images/{id}`): create → upload → publish → the post appears; drafts
stay private; other people's posts are 404 or 403; orders, tags and hidden generation data are checked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from modelyard.accounts.models import Role, User
from modelyard.core.db import utcnow
from modelyard.images import ingest
from modelyard.images.editing import MAX_POST_IMAGES
from modelyard.images.models import Image, Ingestion, Post
from modelyard.images.tags import MAX_IMAGE_TAGS
from tests.images.test_editing import make_post, png
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_api_key, create_user


def bearer(runtime, user: UserFixture) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(runtime, user)}"}


@pytest.fixture
def owner(runtime) -> UserFixture:
    return create_user(runtime)


@pytest.fixture
def headers(runtime, owner) -> dict[str, str]:
    return bearer(runtime, owner)


def upload(client, post_id: int, headers, *colors: str):
    files = [("images", (f"{color}.png", png(color))) for color in colors]
    return client.post(f"/api/posts/{post_id}/images", files=files, headers=headers)


def scan(runtime, *image_ids: int) -> None:
    for image_id in image_ids:
        with runtime.db.transaction() as session:
            ingest.ingest_now(session, image_id)


def test_create_upload_publish_then_the_post_appears(runtime, client, headers):
    created = client.post(
        "/api/posts", json={"title": "Harbour at dusk", "detail": "**Bold** <script>x</script>"}, headers=headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["published"] is False and body["images"] == [] and body["editable"] is True
    assert "<strong>Bold</strong>" in body["detail_html"] and "<script" not in body["detail_html"]
    post_id = body["id"]
    assert client.get(f"/api/posts/{post_id}").status_code == 404, "a draft is invisible to anyone else"

    added = upload(client, post_id, headers, "red", "blue")
    assert added.status_code == 201, added.text
    images = added.json()["images"]
    assert [image["name"] for image in images] == ["red.png", "blue.png"]
    assert {image["ingestion"] for image in images} == {"Pending"}

    published = client.post(f"/api/posts/{post_id}/publish", headers=headers)
    assert published.status_code == 200 and published.json()["published"] is True
    assert client.get(f"/api/posts/{post_id}").json()["images"] == [], "pending images wait for their scan"

    scan(runtime, *(image["id"] for image in images))
    public = client.get(f"/api/posts/{post_id}").json()
    assert [image["name"] for image in public["images"]] == ["red.png", "blue.png"]
    assert all(image["url"].startswith("/media/") for image in public["images"])
    assert public["editable"] is False and public["nsfw_level"] >= 1

    unpublished = client.post(f"/api/posts/{post_id}/unpublish", headers=headers)
    assert unpublished.status_code == 200
    assert client.get(f"/api/posts/{post_id}").status_code == 404


def test_bad_uploads_store_nothing(runtime, client, headers):
    post_id = client.post("/api/posts", json={"title": "x"}, headers=headers).json()["id"]
    files = [("images", ("a.png", png())), ("images", ("b.png", b"<svg onload=alert(1)></svg>"))]
    response = client.post(f"/api/posts/{post_id}/images", files=files, headers=headers)
    assert response.status_code in (413, 422), response.text
    with runtime.db.session() as session:
        assert session.scalar(select(Image.id)) is None
    too_many = [("images", (f"{n}.png", png())) for n in range(MAX_POST_IMAGES + 1)]
    assert client.post(f"/api/posts/{post_id}/images", files=too_many, headers=headers).status_code == 422


def test_publishing_an_empty_post_is_refused(client, headers):
    post_id = client.post("/api/posts", json={"title": "Empty"}, headers=headers).json()["id"]
    response = client.post(f"/api/posts/{post_id}/publish", headers=headers)
    assert response.status_code == 422 and "at least one image" in response.json()["detail"]


def test_a_post_attached_to_another_creators_version(runtime, client, headers):
    creator = create_user(runtime)
    made = create_model(runtime, creator, with_post=False, published=True)
    draft = create_model(runtime, creator, with_post=False, published=False)
    refused = client.post("/api/posts", json={"title": "x", "model_version_id": draft.version_ids[0]}, headers=headers)
    assert refused.status_code == 404
    body = client.post(
        "/api/posts", json={"title": "x", "model_version_id": made.version_ids[0]}, headers=headers
    ).json()
    assert body["model_version_id"] == made.version_ids[0] and body["showcase"] is False
    detached = client.patch(f"/api/posts/{body['id']}", json={"model_version_id": None}, headers=headers)
    assert detached.status_code == 200 and detached.json()["model_version_id"] is None
    mine = create_model(runtime, create_user(runtime), with_post=False, published=True)
    moved = client.patch(f"/api/posts/{body['id']}", json={"model_version_id": mine.version_ids[0]}, headers=headers)
    assert moved.json()["model_version_id"] == mine.version_ids[0]
    renamed = client.patch(f"/api/posts/{body['id']}", json={"title": "New name"}, headers=headers).json()
    assert renamed["title"] == "New name" and renamed["model_version_id"] == mine.version_ids[0]


def test_own_version_post_is_its_showcase(runtime, client, owner, headers):
    mine = create_model(runtime, owner, with_post=False, published=True)
    body = client.post("/api/posts", json={"model_version_id": mine.version_ids[0]}, headers=headers).json()
    assert body["showcase"] is True


def test_other_peoples_posts_are_404_or_403(runtime, client, owner, headers):
    draft_id, (draft_image,) = make_post(runtime, owner)
    public_id, (public_image,) = make_post(runtime, owner, publish=True)
    other = bearer(runtime, create_user(runtime))
    for post_id, expected in ((draft_id, 404), (public_id, 403)):
        assert client.patch(f"/api/posts/{post_id}", json={"title": "mine"}, headers=other).status_code == expected
        assert client.delete(f"/api/posts/{post_id}", headers=other).status_code == expected
        assert upload(client, post_id, other, "red").status_code == expected
        assert client.post(f"/api/posts/{post_id}/unpublish", headers=other).status_code == expected
        assert client.put(f"/api/posts/{post_id}/order", json={"image_ids": []}, headers=other).status_code == expected
    for image_id, expected in ((draft_image, 404), (public_image, 403)):
        assert client.patch(f"/api/images/{image_id}", json={"hide_meta": True}, headers=other).status_code == expected
        assert client.patch(f"/api/images/{image_id}", json={"tags": ["x"]}, headers=other).status_code == expected
        assert client.delete(f"/api/images/{image_id}", headers=other).status_code == expected
    with runtime.db.session() as session:
        assert session.scalar(select(Post.title).where(Post.id == public_id)) == "Evening sketches"
        assert len(session.scalars(select(Image.id)).all()) == 2


@pytest.mark.parametrize("bad_id", [0, 2**31, 2**63, 10**30])
def test_ids_out_of_range_are_refused_cleanly(client, headers, bad_id):
    assert client.get(f"/api/posts/{bad_id}", headers=headers).status_code == 422
    assert client.patch(f"/api/images/{bad_id}", json={"tags": []}, headers=headers).status_code == 422
    body = {"title": "x", "model_version_id": bad_id}
    assert client.post("/api/posts", json=body, headers=headers).status_code == 422
    assert client.get(f"/api/posts/{2**31 - 1}", headers=headers).status_code == 404


def test_reorder_validation(runtime, client, owner, headers):
    post_id, ids = make_post(runtime, owner, colors=("red", "green", "blue"), scan=False)
    _, (foreign,) = make_post(runtime, create_user(runtime), scan=False)
    for bad in ([ids[0], ids[1]], [*ids, ids[0]], [ids[0], ids[1], foreign], [ids[0], ids[1], 2**31]):
        response = client.put(f"/api/posts/{post_id}/order", json={"image_ids": bad}, headers=headers)
        assert response.status_code == 422, bad
    good = client.put(f"/api/posts/{post_id}/order", json={"image_ids": [ids[1], ids[2], ids[0]]}, headers=headers)
    assert [image["id"] for image in good.json()["images"]] == [ids[1], ids[2], ids[0]]


def test_tags_are_normalised_and_limited(runtime, client, owner, headers):
    _, (image_id,) = make_post(runtime, owner, publish=True)
    url = f"/api/images/{image_id}"
    saved = client.patch(url, json={"tags": ["  Ink   Wash ", "ink wash", "Heron", ""]}, headers=headers)
    assert saved.status_code == 200 and saved.json()["tags"] == ["ink wash", "heron"]
    for bad in ([f"t{n}" for n in range(MAX_IMAGE_TAGS + 1)], ["x" * 61], ["nul\x00tag"], ["bell\x07"]):
        response = client.patch(url, json={"tags": bad}, headers=headers)
        assert response.status_code in (400, 422), bad  # a NUL byte is refused before the endpoint runs
    moderator = bearer(runtime, create_user(runtime, role=Role.moderator))
    by_moderator = client.patch(url, json={"tags": ["ink wash", "heron", "bird"]}, headers=moderator)
    assert by_moderator.status_code == 200 and by_moderator.json()["tags"] == ["ink wash", "heron", "bird"]
    assert client.patch(url, json={"hide_meta": True}, headers=moderator).status_code == 403
    owner_again = client.patch(url, json={"tags": []}, headers=headers).json()
    assert owner_again["tags"] == ["bird"], "the owner removes their own tags, not a moderator's"


def test_hidden_generation_data_is_for_the_owner_only(runtime, client, owner, headers):
    post_id, (image_id,) = make_post(runtime, owner, publish=True)
    with runtime.db.transaction() as session:
        image = session.get(Image, image_id)
        assert image is not None and image.ingestion == Ingestion.Scanned
        image.meta = {"prompt": "a heron in ink", "seed": 42}
    assert client.get(f"/api/posts/{post_id}").json()["images"][0]["meta"]["prompt"] == "a heron in ink"
    hidden = client.patch(f"/api/images/{image_id}", json={"hide_meta": True}, headers=headers)
    assert hidden.status_code == 200 and hidden.json()["hide_meta"] is True and hidden.json()["meta"]["seed"] == 42
    assert client.get(f"/api/posts/{post_id}").json()["images"][0]["meta"] is None
    other = bearer(runtime, create_user(runtime))
    assert client.get(f"/api/posts/{post_id}", headers=other).json()["images"][0]["meta"] is None
    assert client.get(f"/api/posts/{post_id}", headers=headers).json()["images"][0]["meta"]["seed"] == 42


def test_removing_and_deleting(runtime, client, owner, headers):
    post_id, ids = make_post(runtime, owner, colors=("red", "blue"), publish=True)
    assert client.delete(f"/api/images/{ids[0]}", headers=headers).status_code == 204
    assert [image["id"] for image in client.get(f"/api/posts/{post_id}").json()["images"]] == [ids[1]]
    assert client.delete(f"/api/posts/{post_id}", headers=headers).status_code == 204
    assert client.get(f"/api/posts/{post_id}", headers=headers).status_code == 404
    with runtime.db.session() as session:
        assert session.scalar(select(Image.id)) is None


def test_a_muted_user_cannot_post(runtime, client, owner, headers):
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        assert user is not None
        user.muted_at = utcnow()
    assert client.post("/api/posts", json={"title": "x"}, headers=headers).status_code == 403
