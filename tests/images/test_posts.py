"""Showcase posts: they go live with their version, and only the owner adds them."""

from __future__ import annotations

import io

from PIL import Image as PILImage

from modelyard.images.models import Post
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user
from tests.support.ingestion import run_ingestion


def png(color: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def test_a_post_waits_for_its_version_and_goes_live_with_it(runtime, client):
    owner = create_user(runtime)
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    made = create_model(runtime, owner, with_post=False)
    vid = made.version_ids[0]
    response = client.post(
        f"/api/model-versions/{vid}/posts",
        files=[("images", ("a.png", png())), ("images", ("b.png", png("blue")))],
        data={"title": "Samples"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["published"] is False and [i["width"] for i in body["images"]] == [64, 64]
    assert [i["ingestion"] for i in body["images"]] == ["Pending", "Pending"]
    run_ingestion(runtime)
    assert client.post(f"/api/models/{made.id}/publish", json={}, headers=headers).status_code == 200
    with runtime.db.session() as session:
        post = session.get(Post, body["id"])
        assert post is not None and post.published_at is not None
        stored = runtime.storage.read_bytes(post.images[0].storage_key)
    assert PILImage.open(io.BytesIO(stored)).format == "WEBP"


def test_only_the_owner_posts_and_bad_images_change_nothing(runtime, client):
    owner = create_user(runtime)
    other = create_user(runtime)
    made = create_model(runtime, owner, with_post=False, published=True)
    vid = made.version_ids[0]
    other_headers = {"Authorization": f"Bearer {create_api_key(runtime, other)}"}
    response = client.post(
        f"/api/model-versions/{vid}/posts", files=[("images", ("a.png", png()))], headers=other_headers
    )
    assert response.status_code == 403
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    response = client.post(
        f"/api/model-versions/{vid}/posts",
        files=[("images", ("a.png", png())), ("images", ("b.png", b"not an image"))],
        headers=headers,
    )
    assert response.status_code == 422
    with runtime.db.session() as session:
        assert session.query(Post).count() == 0
    response = client.post(f"/api/model-versions/{vid}/posts", files=[("images", ("a.png", png()))], headers=headers)
    assert response.status_code == 201 and response.json()["published"] is True
