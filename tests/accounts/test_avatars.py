from __future__ import annotations

import io

import httpx
from fastapi.testclient import TestClient
from PIL import Image

from modelyard.core.runtime import Runtime
from tests.support.factories import create_api_key, create_user


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(out, format=fmt)
    return out.getvalue()


def test_avatar_is_stored_as_a_square_webp_and_served(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime, username="painter")
    key = create_api_key(runtime, user)
    response = client.put("/api/account/avatar", content=image_bytes(), headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    redirect = client.get("/api/users/painter/avatar", follow_redirects=False)
    assert redirect.status_code == 307
    location = redirect.headers["location"]
    fetched = client.get(location) if location.startswith("http://testserver") else httpx.get(location)
    assert fetched.status_code == 200
    with Image.open(io.BytesIO(fetched.content)) as picture:
        assert picture.format == "WEBP" and picture.size == (256, 256)


def test_non_image_is_refused_and_changes_nothing(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime, username="painter")
    key = create_api_key(runtime, user)
    response = client.put(
        "/api/account/avatar", content=b"#!/bin/sh\necho not an image\n", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 422 and "not an image" in response.json()["detail"]
    assert client.get("/api/users/painter/avatar", follow_redirects=False).status_code == 404


def test_oversized_upload_is_refused(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime, username="painter")
    key = create_api_key(runtime, user)
    response = client.put(
        "/api/account/avatar", content=b"\0" * (9 * 1024 * 1024), headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 413


def test_uploading_needs_the_user_write_scope(client: TestClient, runtime: Runtime) -> None:
    from modelyard.accounts.scopes import TokenScope

    user = create_user(runtime, username="painter")
    key = create_api_key(runtime, user, scopes=TokenScope.UserRead)
    response = client.put("/api/account/avatar", content=image_bytes(), headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403


def test_profile_page_uploads_a_picture_with_the_token_in_the_action(client: TestClient, runtime: Runtime) -> None:
    from tests.support.factories import log_in

    user = create_user(runtime, username="painter")
    log_in(client, user)
    token = client.cookies["modelyard_csrf"]
    files = {"avatar": ("me.jpg", image_bytes("JPEG"), "image/jpeg")}
    refused = client.post("/account/avatar", files=files, headers={"x-csrf-token": ""}, follow_redirects=False)
    assert refused.status_code == 403
    saved = client.post(
        f"/account/avatar?csrf_token={token}", files=files, headers={"x-csrf-token": ""}, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    page = client.get("/account")
    assert 'src="/api/users/painter/avatar"' in page.text
    bad = client.post(
        f"/account/avatar?csrf_token={token}",
        files={"avatar": ("x.png", b"nope", "image/png")},
        headers={"x-csrf-token": ""},
        follow_redirects=False,
    )
    assert bad.status_code == 422 and "not an image" in bad.text


def test_a_muted_user_keeps_the_picture_they_have(client: TestClient, runtime: Runtime) -> None:
    """A picture is read by everyone, like a bio: muted users cannot change it."""
    from modelyard.accounts import moderation
    from modelyard.accounts.models import User

    user = create_user(runtime, username="painter")
    key = create_api_key(runtime, user)
    with runtime.db.transaction() as session:
        record = session.get(User, user.id)
        assert record is not None
        moderation.mute(session, None, record, reason="spam")
    response = client.put("/api/account/avatar", content=image_bytes(), headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403 and "muted" in response.json()["detail"]
    assert client.get("/api/users/painter/avatar", follow_redirects=False).status_code == 404
