"""What moderators do to an image: rate it (one level bit, locked), block it (never served; its hash remembered
when blocked by a moderator or for the rules), unblock it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from modelyard.core.errors import Conflict, ValidationFailed
from modelyard.images import moderate
from modelyard.images.models import BlockedFor, BlockedImageHash, Image, Ingestion
from tests.images.pictures import png
from tests.support.factories import UserFixture, create_user
from tests.support.ingestion import image, run_ingestion, upload


@pytest.fixture
def owner(runtime) -> UserFixture:
    return create_user(runtime)


def scanned(runtime, owner) -> int:
    image_id = upload(runtime, owner, png("red"))
    run_ingestion(runtime)
    return image_id


@pytest.mark.parametrize("level", [0, 3, 32, 64, -1])
def test_a_level_is_one_ratable_bit(runtime, owner, level):
    image_id = scanned(runtime, owner)
    with runtime.db.transaction() as session, pytest.raises(ValidationFailed):
        moderate.set_level(session, session.get(Image, image_id), level)


def test_an_unlocked_level_can_be_set_and_changed_by_tags_again(runtime, owner):
    image_id = scanned(runtime, owner)
    with runtime.db.transaction() as session:
        moderate.set_level(session, session.get(Image, image_id), 4, lock=False)
    done = image(runtime, image_id)
    assert (done.nsfw_level, done.nsfw_level_locked) == (4, False)


def test_a_blocked_image_is_not_served_and_its_hash_is_remembered(runtime, client, owner):
    image_id = scanned(runtime, owner)
    key = image(runtime, image_id).storage_key
    assert client.get(f"/media/{key}").status_code == 200
    with runtime.db.transaction() as session:
        moderate.block(session, session.get(Image, image_id), reason=BlockedFor.tos, actor=None, note="rules")
    assert client.get(f"/media/{key}").status_code == 404
    with runtime.db.session() as session:
        remembered = session.scalars(select(BlockedImageHash)).one()
        assert (remembered.image_id, remembered.phash, remembered.reason) == (
            image_id,
            image(runtime, image_id).phash,
            "rules",
        )
    with runtime.db.transaction() as session:
        moderate.unblock(session, session.get(Image, image_id))
    assert image(runtime, image_id).ingestion == Ingestion.Scanned
    assert client.get(f"/media/{key}").status_code == 200
    with runtime.db.session() as session:
        assert session.scalars(select(BlockedImageHash)).all() == []
    with runtime.db.transaction() as session, pytest.raises(Conflict):
        moderate.unblock(session, session.get(Image, image_id))


def test_an_owners_withdrawal_is_not_remembered(runtime, owner):
    image_id = scanned(runtime, owner)
    with runtime.db.transaction() as session:
        moderate.block(session, session.get(Image, image_id), reason=BlockedFor.owner, actor=None)
    with runtime.db.session() as session:
        assert session.scalars(select(BlockedImageHash)).all() == []
