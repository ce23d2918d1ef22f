"""The one listing of images (`images.feed`): levels intersect with the viewer's, unrated and unfinished images
are nobody's, every filter keeps what it says, and cursors walk a list without repeating or skipping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from modelyard.accounts.models import Role, User
from modelyard.catalog.browsing import Period
from modelyard.catalog.models import Tag
from modelyard.core.db import utcnow
from modelyard.core.errors import BadRequest
from modelyard.core.runtime import Runtime
from modelyard.images.feed import FeedQuery, ImageSort, list_images
from modelyard.images.models import Image, ImageResource, Ingestion, Post, TagOnImage
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user


def add_image(
    runtime: Runtime,
    owner: UserFixture,
    *,
    level: int = 1,
    version_id: int | None = None,
    published: bool = True,
    meta: dict[str, Any] | None = None,
    hide_meta: bool = False,
    ingestion: Ingestion = Ingestion.Scanned,
    title: str | None = None,
    made_with: int | None = None,
) -> int:
    """A post of one image, straight into the tables (the listing reads rows, however they were made)."""
    with runtime.db.transaction() as session:
        post = Post(user_id=owner.id, model_version_id=version_id, title=title, metadata_={})
        session.add(post)
        session.flush()
        if published:
            post.published_at = post.created_at
        image = Image(
            user_id=owner.id,
            post_id=post.id,
            storage_key=f"images/feed-{post.id}.webp",
            width=64,
            height=96,
            nsfw_level=level,
            meta=meta,
            hide_meta=hide_meta,
            ingestion=ingestion,
            blurhash="L1Eyb[~qfQ~q~qoffQoffQfQfQfQ",
        )
        session.add(image)
        session.flush()
        if made_with is not None:
            session.add(ImageResource(image_id=image.id, model_version_id=made_with, kind="lora", name="made with"))
        return image.id


def ids(runtime: Runtime, viewer: UserFixture | None, **query: Any) -> list[int]:
    with runtime.db.transaction() as session:
        user = session.get(User, viewer.id) if viewer is not None else None
        return [item.image.id for item in list_images(session, user, FeedQuery(**query)).items]


def set_level(runtime: Runtime, user: UserFixture, level: int) -> None:
    with runtime.db.transaction() as session:
        session.execute(update(User).where(User.id == user.id).values(browsing_level=level))


def test_levels_intersect_with_the_viewers(runtime):
    owner, reader = create_user(runtime), create_user(runtime)
    pg, r, x = (add_image(runtime, owner, level=level) for level in (1, 4, 8))
    assert ids(runtime, None) == [pg]  # anonymous: PG only
    assert ids(runtime, reader) == [pg]  # a new account: PG only
    set_level(runtime, reader, 1 | 4)
    assert ids(runtime, reader) == [r, pg]
    set_level(runtime, reader, 8)
    assert ids(runtime, reader) == [x]
    assert ids(runtime, None, levels=31) == [x, r, pg]  # a query naming its levels (the API's parameters)


def test_unrated_images_are_listed_for_no_one(runtime):
    owner = create_user(runtime)
    moderator = create_user(runtime, role=Role.moderator)
    add_image(runtime, owner, level=0)
    set_level(runtime, owner, 31)
    assert ids(runtime, owner) == [] and ids(runtime, moderator, levels=63) == []
    assert ids(runtime, None, levels=63) == []


def test_blocked_level_is_asked_for_by_moderators_only(runtime):
    owner, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    blocked = add_image(runtime, owner, level=32)
    assert ids(runtime, None, levels=63) == []
    assert ids(runtime, moderator, levels=63) == [blocked]


def test_drafts_and_unfinished_images_are_left_out(runtime):
    owner = create_user(runtime)
    shown = add_image(runtime, owner)
    add_image(runtime, owner, published=False)
    add_image(runtime, owner, ingestion=Ingestion.Pending)
    add_image(runtime, owner, ingestion=Ingestion.Blocked)
    add_image(runtime, owner, ingestion=Ingestion.Error)
    assert ids(runtime, None) == [shown]
    assert ids(runtime, owner) == [shown]  # owners see their drafts on their own pages, not in the feed


def test_cursor_pages_walk_every_image_once_both_ways(runtime):
    owner = create_user(runtime)
    made = [add_image(runtime, owner) for _ in range(7)]
    for sort, expected in ((ImageSort.Newest, made[::-1]), (ImageSort.Oldest, made)):
        walked, cursor = [], None
        with runtime.db.transaction() as session:
            while True:
                found = list_images(session, None, FeedQuery(limit=3, cursor=cursor, sort=sort))
                walked += [item.image.id for item in found.items]
                cursor = found.next_cursor
                if cursor is None:
                    break
        assert walked == expected


def test_engagement_sorts_read_as_newest(runtime):
    owner = create_user(runtime)
    made = [add_image(runtime, owner) for _ in range(3)]
    for sort in (ImageSort.MostReactions, ImageSort.MostComments, ImageSort.MostCollected):
        assert ids(runtime, None, sort=sort) == made[::-1]


def test_filters_keep_what_they_name(runtime):
    owner, other = create_user(runtime, username="Painter"), create_user(runtime)
    made = create_model(runtime, owner, published=True)  # a showcase image of its own
    version = made.version_ids[0]
    posted = add_image(runtime, owner, version_id=version)
    by_other = add_image(runtime, other, made_with=version)
    lone = add_image(runtime, other)
    with runtime.db.transaction() as session:
        post_id = session.get(Image, posted).post_id
    showcase = made.image_ids[0]
    assert ids(runtime, None, post_id=post_id) == [posted]
    assert ids(runtime, None, model_id=made.id) == [posted, showcase]
    assert ids(runtime, None, version_id=version) == [by_other, posted, showcase]
    assert ids(runtime, None, made_with_version_id=version) == [by_other]
    assert ids(runtime, None, image_id=lone) == [lone]
    assert ids(runtime, None, user_id=other.id) == [lone, by_other]
    assert ids(runtime, None, username="painter") == [posted, showcase]
    assert ids(runtime, None, user_id=other.id, exclude_image_id=lone) == [by_other]
    assert ids(runtime, None, base_models=("SD 1.5",)) == [posted, showcase]
    assert ids(runtime, None, media_type="video") == []


def test_unknown_base_models_and_types_are_refused(runtime):
    with runtime.db.transaction() as session, pytest.raises(BadRequest, match="Invalid baseModels: Nope"):
        list_images(session, None, FeedQuery(base_models=("SD 1.5", "Nope")))
    with runtime.db.transaction() as session, pytest.raises(BadRequest):
        list_images(session, None, FeedQuery(media_type="pdf"))


def test_tags_and_periods(runtime):
    owner = create_user(runtime)
    tagged, old = add_image(runtime, owner), add_image(runtime, owner)
    with runtime.db.transaction() as session:
        tag = Tag(name="ink")
        session.add(tag)
        session.flush()
        session.add(TagOnImage(image_id=tagged, tag_id=tag.id))
        session.execute(update(Image).where(Image.id == old).values(created_at=utcnow() - timedelta(days=40)))
        tag_id = tag.id
    assert ids(runtime, None, tag_ids=(tag_id,)) == [tagged]
    assert ids(runtime, None, period=Period.Month) == [tagged]
    assert ids(runtime, None, period=Period.Year) == [tagged, old]  # within a period, newest by date


def test_cursor_pages_within_a_period_follow_the_dates(runtime):
    """Dates out of id order (an image dated back) and dates shared by several images: each page starts after the
    last one, in date then id order, both ways, and never repeats or skips an image."""
    owner = create_user(runtime)
    made = [add_image(runtime, owner) for _ in range(7)]
    now = utcnow()
    dated = {made[0]: now - timedelta(days=3), made[1]: now - timedelta(days=1), made[2]: now - timedelta(days=1)}
    dated |= {image_id: now - timedelta(days=2) for image_id in made[3:6]}
    dated[made[6]] = now - timedelta(days=60)  # outside the month
    with runtime.db.transaction() as session:
        for image_id, moment in dated.items():
            session.execute(update(Image).where(Image.id == image_id).values(created_at=moment))
    oldest_first = [made[0], made[3], made[4], made[5], made[1], made[2]]
    newest_first = [made[2], made[1], made[5], made[4], made[3], made[0]]
    for sort, expected in ((ImageSort.Oldest, oldest_first), (ImageSort.Newest, newest_first)):
        walked, cursor = [], None
        with runtime.db.transaction() as session:
            while True:
                query = FeedQuery(limit=2, cursor=cursor, sort=sort, period=Period.Month)
                found = list_images(session, None, query)
                walked += [item.image.id for item in found.items]
                cursor = found.next_cursor
                if cursor is None:
                    break
        assert walked == expected, sort


def test_hidden_generation_data_is_read_by_its_owner_and_moderators_only(runtime):
    owner, moderator, other = create_user(runtime), create_user(runtime, role=Role.moderator), create_user(runtime)
    add_image(runtime, owner, meta={"prompt": "ink"}, hide_meta=True)
    with runtime.db.transaction() as session:
        (item,) = list_images(session, None, FeedQuery()).items
        people = (("owner", owner), ("mod", moderator), ("other", other))
        readers = {name: session.get(User, user.id) for name, user in people}
        assert item.meta_for(None) is None and item.meta_for(readers["other"]) is None
        assert item.meta_for(readers["owner"]) == {"prompt": "ink"} == item.meta_for(readers["mod"])


def test_version_ids_name_those_it_was_made_with_then_the_posts_version(runtime):
    owner = create_user(runtime)
    first, second = create_model(runtime, owner, published=True), create_model(runtime, owner, published=True)
    image_id = add_image(runtime, owner, version_id=first.version_ids[0], made_with=second.version_ids[0])
    with runtime.db.transaction() as session:
        (item,) = list_images(session, None, FeedQuery(image_id=image_id)).items
    assert item.version_ids == [second.version_ids[0], first.version_ids[0]]


@pytest.mark.parametrize("cursor", ["abc", "1|2", str(2**40), "\x00"])
def test_bad_cursors_are_a_400(runtime, cursor):
    with runtime.db.transaction() as session, pytest.raises(BadRequest):
        list_images(session, None, FeedQuery(cursor=cursor))
