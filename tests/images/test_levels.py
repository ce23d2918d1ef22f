"""Levels that follow: an image's tags raise it, a locked level holds against tags and the classifier, a post is
the OR of its images, a version and its model follow their published showcase."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from modelyard.catalog.models import Model, ModelVersion, Tag, TagType
from modelyard.images import ingest, levels, moderate
from modelyard.images.models import Image, Post, TagOnImage
from tests.images.pictures import png
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user
from tests.support.ingestion import image, run_ingestion, upload


@pytest.fixture
def owner(runtime) -> UserFixture:
    return create_user(runtime)


def tag(runtime, image_id: int, name: str, level: int, *, disabled: bool = False) -> None:
    with runtime.db.transaction() as session:
        found = session.scalar(select(Tag).where(Tag.name == name))
        if found is None:
            found = Tag(name=name, type=TagType.moderation, nsfw_level=level)
            session.add(found)
            session.flush()
        session.add(TagOnImage(image_id=image_id, tag_id=found.id, disabled=disabled))
        session.flush()
        levels.apply_tag_levels(session, [image_id])


def test_a_tag_raises_the_level_and_a_disabled_one_does_not(runtime, owner):
    image_id = upload(runtime, owner, png("white"))
    run_ingestion(runtime)
    assert image(runtime, image_id).nsfw_level == 1
    tag(runtime, image_id, "gore", 8, disabled=True)
    assert image(runtime, image_id).nsfw_level == 1
    tag(runtime, image_id, "nudity", 4)
    assert image(runtime, image_id).nsfw_level == 4
    with runtime.db.transaction() as session:
        session.execute(TagOnImage.__table__.delete().where(TagOnImage.image_id == image_id))
        levels.apply_tag_levels(session, [image_id])
    assert image(runtime, image_id).nsfw_level == 1  # back to the classifier's


def test_a_locked_level_holds_against_tags_and_a_rescan(runtime, owner):
    image_id = upload(runtime, owner, png("white"))
    run_ingestion(runtime)
    with runtime.db.transaction() as session:
        moderate.set_level(session, session.get(Image, image_id), 2)
    tag(runtime, image_id, "explicit", 16)
    assert image(runtime, image_id).nsfw_level == 2
    with runtime.db.transaction() as session:
        ingest.rescan(session, None, session.get(Image, image_id))
    run_ingestion(runtime)
    rescanned = image(runtime, image_id)
    assert (rescanned.nsfw_level, rescanned.nsfw_level_locked) == (2, True)


def test_a_tag_applied_while_pending_counts_once_rated(runtime, owner):
    image_id = upload(runtime, owner, png("white"))
    tag(runtime, image_id, "nudity", 4)
    assert image(runtime, image_id).nsfw_level == 0  # unrated until scanned
    run_ingestion(runtime)
    assert image(runtime, image_id).nsfw_level == 4


def test_posts_versions_and_models_follow_their_images(runtime, owner):
    made = create_model(runtime, owner, with_post=False, published=True)
    with runtime.db.transaction() as session:
        version = session.get(ModelVersion, made.version_ids[0])
        from modelyard.images import service

        post = service.create_version_post(session, owner.id, version, title="t", images=[png("red"), png("blue")])
        post_id, ids = post.id, [i.id for i in post.images]
    with runtime.db.session() as session:
        assert session.get(Post, post_id).nsfw_level == 0  # nothing rated yet
    run_ingestion(runtime)
    with runtime.db.transaction() as session:
        assert session.get(Post, post_id).nsfw_level == 1
        moderate.set_level(session, session.get(Image, ids[1]), 8)
    with runtime.db.transaction() as session:
        assert session.get(Post, post_id).nsfw_level == 1 | 8
        assert session.get(ModelVersion, made.version_ids[0]).nsfw_level == 1 | 8
        model = session.get(Model, made.id)
        assert model.nsfw_level == 1 | 8
        model.nsfw = True
        levels.refresh_catalog_levels(session, made.version_ids)
        assert model.nsfw_level == 60
