"""Public images have stable, cacheable addresses that stop answering when the image is no longer public; only
pictures nobody else may see get short-lived signed URLs (defect 2.4)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import update

from modelyard.accounts.models import Role
from modelyard.catalog import showcase
from modelyard.catalog.enums import Availability
from modelyard.catalog.models import Model
from modelyard.core.storage.local import LocalStorage
from modelyard.core.storage.routes import object_response
from modelyard.images.media import PUBLIC_CACHE
from tests.images.test_showcase import add, bearer, png, showcase_url
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import UserFixture, create_user
from tests.support.live_server import live_server
from tests.support.nginx import start_nginx

MEDIA_URL = re.compile(r'src="(/media/images/[^"]+)"')


@pytest.fixture
def owner(runtime) -> UserFixture:
    return create_user(runtime)


@pytest.fixture
def made(runtime, client, owner) -> ModelFixture:
    made = create_model(runtime, owner, with_post=False, published=True)
    assert add(client, made, bearer(runtime, owner), "red", "blue").status_code == 201
    return made


def page_urls(client, made: ModelFixture) -> list[str]:
    return MEDIA_URL.findall(client.get(f"/models/{made.id}").text)


def fetch(client, url: str) -> httpx.Response:
    """A URL the app gave out: its own (a stable address, or the local storage's signed one), or the bucket's."""
    parts = urlsplit(url)
    if parts.netloc in ("", "testserver") or parts.path.startswith("/files/"):
        return client.get(parts.path + (f"?{parts.query}" if parts.query else ""))
    return httpx.get(url)


def test_a_public_image_keeps_one_address_served_for_a_year(runtime, client, made, owner):
    first = page_urls(client, made)
    assert len(first) == 2
    assert page_urls(client, made) == first, "the same address on every request"
    assert all("expires" not in url and "sig=" not in url and "Amz" not in url for url in first)
    api = client.get(f"/api/v1/images?modelId={made.id}").json()["items"]
    assert sorted(urlsplit(item["url"]).path for item in api) == sorted(first), "the API gives the same addresses"
    version = client.get(f"/api/v1/model-versions/{made.version_ids[0]}").json()
    assert sorted(urlsplit(image["url"]).path for image in version["images"]) == sorted(first)
    response = client.get(first[0])
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
    assert response.headers["cache-control"] == PUBLIC_CACHE
    assert "max-age=31536000" in PUBLIC_CACHE and "immutable" in PUBLIC_CACHE
    assert response.content[:4] == b"RIFF" and response.content[8:12] == b"WEBP"
    etag = response.headers["etag"]
    assert client.get(first[0], headers={"If-None-Match": etag}).status_code == 304
    head = client.head(first[0])
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(response.content)
    logged_in = client.get(first[0], headers=bearer(runtime, owner))
    assert logged_in.status_code == 200 and logged_in.content == response.content


@pytest.mark.parametrize("how", ["unpublish", "take down", "remove"])
def test_the_address_stops_answering_when_the_image_is_no_longer_public(runtime, client, made, owner, how):
    url = page_urls(client, made)[0]
    owner_key = bearer(runtime, owner)
    if how == "unpublish":
        assert client.post(f"/api/models/{made.id}/unpublish", json={}, headers=owner_key).status_code == 200
    elif how == "take down":
        moderator = bearer(runtime, create_user(runtime, role=Role.moderator))
        assert client.patch(f"/api/models/{made.id}", json={"mode": "TakenDown"}, headers=moderator).status_code == 200
    else:
        image_id = client.get(showcase_url(made), headers=owner_key).json()["images"][0]["id"]
        assert client.delete(f"{showcase_url(made)}/images/{image_id}", headers=owner_key).status_code == 200
    assert client.get(url).status_code == 404
    assert client.get(url, headers=owner_key).status_code == 404, "the stable address is for public images only"
    assert client.head(url).status_code == 404


def test_private_pictures_get_signed_urls_that_expire(runtime, client, owner):
    draft = create_model(runtime, owner, with_post=False)
    body = add(client, draft, bearer(runtime, owner), "red").json()
    url = body["images"][0]["url"]
    assert "/media/" not in url
    assert re.search(r"(expires=\d+.*sig=|X-Amz-Expires=\d+)", url), url
    assert fetch(client, url).status_code == 200, "the owner's signed URL works while it lasts"
    key = url.split("?")[0].rsplit("/", 2)
    assert client.get(f"/media/images/{key[-2]}/{key[-1]}").status_code == 404, "no stable address for a draft"


def test_the_media_path_serves_only_images(runtime, client, made):
    for path in ("/media/models/1/x.safetensors", "/media/images/../secret", "/media/", "/media/images/1"):
        assert client.get(path).status_code == 404, path
    assert client.get("/media/images/%00").status_code in (400, 404)


def test_behind_nginx_the_bytes_come_from_nginx_with_the_cache_headers(tmp_path):
    """`object_response` with X-Accel-Redirect: nginx sends the file and keeps the app's Cache-Control."""
    storage = LocalStorage(
        tmp_path / "files", secret="s", base_url="http://unused", default_ttl=600, accel_redirect_prefix="/_p/"
    )
    data = png("teal")
    storage.save("images/1/abc.webp", data)
    app = FastAPI()

    @app.api_route("/media/{key:path}", methods=["GET", "HEAD"])
    def media(key: str, request: Request) -> Response:
        headers = {"Cache-Control": PUBLIC_CACHE}
        return object_response(storage, key, headers=headers, media_type="image/webp", head=request.method == "HEAD")

    with live_server(app, lifespan="off") as app_url:
        (tmp_path / "nginx").mkdir()
        nginx = start_nginx(tmp_path / "nginx", upstream=app_url, protected_prefix="/_p/", storage_dir=storage.root)
        try:
            response = httpx.get(nginx.base_url + "/media/images/1/abc.webp")
        finally:
            nginx.stop()
    assert response.status_code == 200 and response.content == data
    assert response.headers["cache-control"] == PUBLIC_CACHE
    assert "x-accel-redirect" not in response.headers


def test_covers_are_stable_for_public_versions_and_signed_for_private_ones(runtime, client, made, owner):
    version_id = made.version_ids[0]
    with runtime.db.session() as session:
        assert showcase.covers(session, [version_id])[version_id].url.startswith("/media/images/")
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == made.id).values(availability=Availability.Private))
    with runtime.db.session() as session:
        cover = showcase.covers(session, [version_id])[version_id]
    assert "/media/" not in cover.url and re.search(r"(sig=|X-Amz-Signature=)", cover.url), cover.url
