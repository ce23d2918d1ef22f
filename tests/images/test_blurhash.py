"""Every image has a BlurHash (defect 2.7): computed at ingestion, filled in for older images by the backfill job,
and sent as a non-empty, decodable string wherever the public API shows an image, as Civitai always does."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from sqlalchemy import update

from modelyard.images import blurhash, upkeep
from modelyard.images.models import Image
from tests.images.test_showcase import add, bearer, png
from tests.support.catalog import create_model
from tests.support.factories import create_user
from tests.support.ingestion import run_ingestion


def gradient() -> PILImage.Image:
    picture = PILImage.new("RGB", (32, 24))
    picture.putdata([((x * 8) % 256, (y * 10) % 256, ((x + y) * 4) % 256) for y in range(24) for x in range(32)])
    return picture


def test_the_encoder_matches_the_reference_implementation():
    # Computed with the reference algorithm (woltapp/blurhash) on the same pixels.
    assert blurhash.encode(gradient()) == "LxH27b2kwzX5mAWYjuf7gKfkfQfj"
    assert blurhash.encode(gradient(), (5, 4)) == "VxH27b2kwzX5a{mAWYjuf7fRgKfkfQfjfQn+WojtfQfQ"


def test_a_hash_decodes_to_the_colours_it_encodes():
    red = blurhash.encode(PILImage.new("RGB", (300, 200), (200, 30, 40)))
    r, g, b = blurhash.decode(red, 4, 4).getpixel((2, 2))
    assert abs(r - 200) < 8 and abs(g - 30) < 8 and abs(b - 40) < 8
    grey = blurhash.decode(blurhash.NEUTRAL, 4, 4).getpixel((0, 0))
    assert len(set(grey)) == 1 and 100 < grey[0] < 160


@pytest.mark.parametrize("bad", ["", "L", "LxH27b2kwzX5mAWYjuf7gKfkfQf", "LxH27b2kwzX5mAWYjuf7gKfkfQf\u00e9", None])
def test_a_malformed_hash_is_refused(bad):
    with pytest.raises(blurhash.InvalidBlurhash):
        blurhash.components_of(bad)  # type: ignore[arg-type]


def decodes(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    blurhash.decode(value, 4, 4)
    return True


def all_api_images(client) -> list[dict[str, object]]:
    images = list(client.get("/api/v1/images?limit=200").json()["items"])
    for model in client.get("/api/v1/models?limit=100").json()["items"]:
        for version in model["modelVersions"]:
            images.extend(version["images"])
            images.extend(client.get(f"/api/v1/model-versions/{version['id']}").json()["images"])
    return images


def test_every_image_the_public_api_shows_has_a_decodable_hash(runtime, client):
    owner = create_user(runtime)
    headers = bearer(runtime, owner)
    for colors in (("red", "blue"), ("green",)):
        made = create_model(runtime, owner, with_post=False, published=True)
        assert add(client, made, headers, *colors).status_code == 201
    old = create_model(runtime, owner, published=True)  # an image stored without a hash, as before 0008
    images = all_api_images(client)
    assert len(images) == 3 * 4  # four images, each in the feed, its model and its version
    assert all(decodes(image["hash"]) for image in images), [image["hash"] for image in images]
    ours = {image["id"]: image["hash"] for image in images if image["id"] not in old.image_ids}
    assert len(set(ours.values())) == 3, "each picture's own colours, not a placeholder"
    assert all(image["metadata"]["hash"] == image["hash"] for image in images if "metadata" in image)


def test_the_backfill_computes_the_hashes_of_old_images(runtime, client):
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_post=False, published=True)
    add(client, made, bearer(runtime, owner), "blue")
    lost = create_model(runtime, owner, published=True)  # its image's bytes were never stored
    with runtime.db.transaction() as session:
        session.execute(update(Image).values(blurhash=None))
    with runtime.db.transaction() as session:
        assert upkeep.fill_missing_blurhashes(session) == 2
    with runtime.db.transaction() as session:
        assert upkeep.fill_missing_blurhashes(session) == 0, "nothing left: the next runs find nothing"
    with runtime.db.session() as session:
        images = {image.id: image for image in session.query(Image)}
    blue = next(image for image_id, image in images.items() if image_id not in lost.image_ids)
    stored = PILImage.open(io.BytesIO(runtime.storage.read_bytes(blue.storage_key)))
    assert blue.blurhash == blurhash.encode(stored)
    assert images[lost.image_ids[0]].blurhash == blurhash.NEUTRAL


def test_ingestion_computes_the_hash(runtime, client):
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_post=False, published=True)
    body = client.post(
        f"/api/model-versions/{made.version_ids[0]}/posts",
        files=[("images", ("a.png", png("purple")))],
        headers=bearer(runtime, owner),
    ).json()
    run_ingestion(runtime)
    with runtime.db.session() as session:
        image = session.get(Image, body["images"][0]["id"])
        assert image is not None and image.blurhash is not None
        assert blurhash.components_of(image.blurhash) == blurhash.COMPONENTS
