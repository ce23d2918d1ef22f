"""The demo's image feed: pictures carrying A1111 and ComfyUI data, read back by ingestion, linked to the demo's
models, spread over several levels, and a feed that changes with the browsing level."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from modelyard.accounts.browsing import set_preferences
from modelyard.accounts.models import User
from modelyard.core.nsfw import ALL_LEVELS
from modelyard.core.runtime import Runtime
from modelyard.images.demo import GALLERY_USER, POSTS, demo_picture
from modelyard.images.metadata import read_metadata
from modelyard.images.models import Image, ImageResource, Ingestion, Post
from tests.support.demo import load_demo_catalog
from tests.support.factories import log_in

MIRA = GALLERY_USER[0]


def test_demo_posts_carry_generation_data_linked_to_the_catalog(runtime: Runtime) -> None:
    catalog = load_demo_catalog(runtime)
    mira = catalog.user(MIRA)
    lumen = catalog.version("Lumen Drift XL", "v2.0")
    with runtime.db.session() as session:
        posts = session.scalars(select(Post).where(Post.title.in_([spec.title for spec in POSTS]))).all()
        assert len(posts) == len(POSTS)
        images = [image for post in posts for image in post.images]
        assert len(images) == sum(len(spec.shots) for spec in POSTS)
        assert all(image.ingestion == Ingestion.Scanned and image.nsfw_level_locked for image in images)
        assert {1, 2, 4, 8} <= {image.nsfw_level for image in images}
        gallery = [post for post in posts if post.user_id == mira.id]
        assert gallery and all(post.model_version_id is None and post.published_at for post in gallery)
        made_with = [post for post in posts if post.model_version_id is not None]
        assert made_with and all(post.published_at for post in made_with)
        for image in images:
            meta = image.meta or {}
            assert {"prompt", "seed", "steps", "sampler"} <= meta.keys()
            # what ingestion read from the private original
            found = read_metadata(runtime.storage.read_bytes(image.original_key or ""))
            assert found is not None and found.meta["prompt"] == meta["prompt"]
        comfy = [image for image in images if (image.meta or {}).get("software") == "ComfyUI"]
        a1111 = [image for image in images if "Model hash" in (image.meta or {})]
        assert comfy and a1111 and all("comfy" in (image.meta or {}) for image in comfy)
        assert any((image.name or "").endswith(".jpg") for image in a1111)  # A1111 text in a JPEG's EXIF
        linked = session.execute(
            select(ImageResource.image_id, ImageResource.model_version_id).where(
                ImageResource.image_id.in_([image.id for image in images]),
                ImageResource.model_version_id.is_not(None),
            )
        ).all()
        linked_images = {image_id for image_id, version_id in linked if version_id == lumen}
        assert {image.id for image in comfy + a1111} <= linked_images  # by Model hash and by AIR
        assert len({version_id for _, version_id in linked}) >= 4  # the LoRAs and the embedding too


def test_the_feed_changes_with_the_browsing_level(runtime: Runtime, client: TestClient) -> None:
    catalog = load_demo_catalog(runtime)
    everyone = client.get("/images", params={"user": MIRA})
    assert everyone.status_code == 200
    assert set(re.findall(r'data-level="(\d+)"', everyone.text)) == {"1"}
    member = catalog.user("pixelsmith")
    with runtime.db.transaction() as session:
        user = session.get(User, member.id)
        assert user is not None
        set_preferences(session, user, level=ALL_LEVELS, adult_confirmed=True)
    log_in(client, member)
    adult = client.get("/images", params={"user": MIRA})
    assert set(re.findall(r'data-level="(\d+)"', adult.text)) == {"1", "2", "4", "8"}
    with runtime.db.session() as session:
        shown = session.scalars(
            select(Image.id).join(Post, Post.id == Image.post_id).where(Post.user_id == catalog.user(MIRA).id)
        ).all()
    assert len(re.findall(r'data-level="\d+"', adult.text)) == len(shown)


def test_demo_picture_round_trips_its_parameters() -> None:
    text = "a heron\nNegative prompt: blur\nSteps: 20, Seed: 5, Size: 512x512"
    for jpeg in (False, True):
        found = read_metadata(demo_picture("ink", 1, (512, 512), parameters=text, jpeg=jpeg))
        assert found is not None and found.meta["prompt"] == "a heron" and found.meta["seed"] == 5
