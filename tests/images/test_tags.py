"""Tags on images (`images.tags`): normalised like the catalog's, limited, editable by the author and moderators,
and a tag with a level raises the image's level and its post's."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from modelyard.accounts.models import Role, User
from modelyard.catalog.enums import TagType
from modelyard.catalog.models import Tag
from modelyard.core.errors import Forbidden, ValidationFailed
from modelyard.core.nsfw import BrowsingLevel
from modelyard.images import tags
from modelyard.images.models import Image, Post, TagOnImage, TagSource
from modelyard.images.tags import MAX_IMAGE_TAGS
from tests.images.test_editing import make_post
from tests.support.factories import create_user


def test_names_are_normalised_like_the_catalogs():
    fullwidth = "\uff28\uff45\uff52\uff4f\uff4e"  # "Heron" in full-width letters: NFKC makes it "Heron"
    assert tags.normalise(["  Ink   Wash ", "INK WASH", fullwidth, "", "  "]) == ["ink wash", "heron"]


@pytest.mark.parametrize(
    "names",
    [
        [f"tag {n}" for n in range(MAX_IMAGE_TAGS + 1)],
        ["x" * 61],
        ["with\x00nul"],
        ["line\nbreak"],
    ],
)
def test_bad_tags_are_refused(names):
    with pytest.raises(ValidationFailed):
        tags.normalise(names)


def test_sixty_characters_and_the_limit_are_fine():
    assert len(tags.normalise(["x" * 60, *[f"t{n}" for n in range(MAX_IMAGE_TAGS - 1)]])) == MAX_IMAGE_TAGS


def test_a_tag_with_a_level_raises_the_image_and_its_post(runtime):
    owner = create_user(runtime)
    post_id, (image_id,) = make_post(runtime, owner, publish=True)
    with runtime.db.transaction() as session:
        session.add(Tag(name="explicit nudity", type=TagType.moderation, nsfw_level=int(BrowsingLevel.X)))
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        assert image is not None and image.nsfw_level == BrowsingLevel.PG
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        image = session.get(Image, image_id)
        assert user is not None and image is not None
        assert tags.set_image_tags(session, user, image, ["Explicit  Nudity", "sketch"]) == [
            "explicit nudity",
            "sketch",
        ]
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        post = session.get(Post, post_id)
        assert image is not None and post is not None
        assert image.nsfw_level == BrowsingLevel.X
        assert post.nsfw_level & BrowsingLevel.X
        new_tag = session.scalar(select(Tag).where(Tag.name == "sketch"))
        assert new_tag is not None and new_tag.type == TagType.user
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        image = session.get(Image, image_id)
        assert user is not None and image is not None
        tags.remove_image_tag(session, user, image, "EXPLICIT NUDITY")
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        assert image is not None and image.nsfw_level == BrowsingLevel.PG, "removing the tag lowers it again"


def test_labels_and_moderators_tags_stay_when_the_author_edits(runtime):
    owner = create_user(runtime)
    _, (image_id,) = make_post(runtime, owner, publish=True)
    with runtime.db.transaction() as session:
        label = Tag(name="bird", type=TagType.label)
        session.add(label)
        session.flush()
        session.add(TagOnImage(image_id=image_id, tag_id=label.id, source=TagSource.classifier, confidence=0.9))
    moderator_id = create_user(runtime, role=Role.moderator).id
    with runtime.db.transaction() as session:
        moderator = session.get(User, moderator_id)
        image = session.get(Image, image_id)
        assert moderator is not None and image is not None
        assert tags.add_image_tag(session, moderator, image, "Heron") == ["bird", "heron"]
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        image = session.get(Image, image_id)
        assert user is not None and image is not None
        assert tags.set_image_tags(session, user, image, ["river"]) == ["bird", "heron", "river"]
        assert tags.set_image_tags(session, user, image, []) == ["bird", "heron"]


def test_other_people_cannot_tag(runtime):
    owner = create_user(runtime)
    _, (image_id,) = make_post(runtime, owner, publish=True)
    stranger_id = create_user(runtime).id
    with runtime.db.transaction() as session:
        stranger = session.get(User, stranger_id)
        image = session.get(Image, image_id)
        assert stranger is not None and image is not None
        with pytest.raises(Forbidden):
            tags.set_image_tags(session, stranger, image, ["mine"])
