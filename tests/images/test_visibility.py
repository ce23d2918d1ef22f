"""A model taken down shows no images anywhere its versions' images are read: the model page, the cards of the
model list, and the public API's models, versions, by-hash and images. Lifting the take-down brings them back."""

from __future__ import annotations

import pytest

from modelyard.accounts.models import Role
from tests.api_v1.test_versions import hashes_of
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import create_api_key, create_user, log_in


@pytest.fixture
def made(runtime) -> ModelFixture:
    return create_model(runtime, create_user(runtime), name="Showcased", published=True)


def image_counts(runtime, client, made: ModelFixture) -> dict[str, int]:
    """How many of the model's images each place shows (the image's storage key is in every URL of it)."""
    version_id, key = made.version_ids[0], f"images/{made.post_ids[0]}.webp"
    sha256 = hashes_of(runtime, made.file_ids[0])["SHA256"]
    listed = [item for item in client.get("/api/v1/models").json()["items"] if item["id"] == made.id]
    return {
        "model page": client.get(f"/models/{made.id}").text.count(key),
        "model list card": client.get("/models").text.count(key),
        "v1 models": sum(len(v["images"]) for item in listed for v in item["modelVersions"]),
        "v1 model": sum(len(v["images"]) for v in client.get(f"/api/v1/models/{made.id}").json()["modelVersions"]),
        "v1 version": len(client.get(f"/api/v1/model-versions/{version_id}").json()["images"]),
        "v1 by-hash": len(client.get(f"/api/v1/model-versions/by-hash/{sha256}").json()["images"]),
        "v1 images": len(client.get(f"/api/v1/images?modelId={made.id}").json()["items"]),
    }


def set_mode(runtime, client, made: ModelFixture, body: dict[str, object]) -> None:
    moderator = create_user(runtime, role=Role.moderator)
    key = {"Authorization": f"Bearer {create_api_key(runtime, moderator)}"}
    response = client.patch(f"/api/models/{made.id}", json=body, headers=key)
    assert response.status_code == 200, response.text


def test_a_model_taken_down_shows_no_images_anywhere(runtime, client, made):
    before = image_counts(runtime, client, made)
    assert all(count >= 1 for count in before.values()), before  # each place shows them to begin with

    set_mode(runtime, client, made, {"mode": "TakenDown"})

    assert image_counts(runtime, client, made) == dict.fromkeys(before, 0)
    set_mode(runtime, client, made, {"clear_mode": True})
    assert all(count >= 1 for count in image_counts(runtime, client, made).values())


def test_moderators_see_no_images_of_it_either(runtime, client, made):
    set_mode(runtime, client, made, {"mode": "TakenDown"})
    log_in(client, create_user(runtime, role=Role.moderator))
    assert f"images/{made.post_ids[0]}.webp" not in client.get(f"/models/{made.id}").text


def test_an_archived_model_keeps_its_images(runtime, client, made):
    set_mode(runtime, client, made, {"mode": "Archived"})
    assert all(count >= 1 for count in image_counts(runtime, client, made).values())
