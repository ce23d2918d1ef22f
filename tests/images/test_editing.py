"""Posts as people make them, through the service (`images.editing`): drafts, limits, publishing, versions of their
own and of others, deletion, and the lifecycle's unpublish effects on them."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from modelyard.accounts.models import User
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model
from modelyard.core.errors import Forbidden, NotFound, ValidationFailed
from modelyard.core.jobs.models import Job
from modelyard.core.runtime import Runtime
from modelyard.images import editing, ingest, visibility
from modelyard.images.editing import MAX_POST_IMAGES, Upload
from modelyard.images.models import Image, Ingestion, Post
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user


def png(color: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def make_post(
    runtime: Runtime,
    owner: UserFixture,
    *,
    colors: tuple[str, ...] = ("red",),
    version_id: int | None = None,
    publish: bool = False,
    scan: bool = True,
    title: str = "Evening sketches",
) -> tuple[int, list[int]]:
    """A post of `owner` with an image of each colour, ingested (Scanned) unless `scan` is False."""
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        assert user is not None
        post = editing.create_post(session, user, title=title, detail="Some *words*", version_id=version_id)
        images = editing.add_images(session, user, post, [Upload(png(color), f"{color}.png") for color in colors])
        post_id, image_ids = post.id, [image.id for image in images]
    if scan:
        for image_id in image_ids:
            with runtime.db.transaction() as session:
                ingest.ingest_now(session, image_id)
    if publish:
        with runtime.db.transaction() as session:
            user = session.get(User, owner.id)
            post = session.get(Post, post_id)
            assert user is not None and post is not None
            editing.publish(session, user, post)
    return post_id, image_ids


def anonymous_sees(runtime: Runtime, post_id: int) -> bool:
    with runtime.db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None
        return editing.can_view_post(session, None, post)


@pytest.fixture
def owner(runtime) -> UserFixture:
    return create_user(runtime)


def test_a_new_post_is_a_draft_only_its_owner_sees(runtime, owner):
    post_id, _ = make_post(runtime, owner, scan=False)
    with runtime.db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None and post.published_at is None and post.detail == "Some *words*"
        assert [image.ingestion for image in post.images] == [Ingestion.Pending]
        stranger = session.get(User, create_user(runtime).id)
        with pytest.raises(NotFound):
            editing.get_post(session, stranger, post_id)
        assert editing.get_post(session, session.get(User, owner.id), post_id) is post


def test_publishing_needs_an_image_and_pending_ones_appear_once_scanned(runtime, owner):
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        assert user is not None
        empty = editing.create_post(session, user, title="Nothing yet")
        with pytest.raises(ValidationFailed, match="at least one image"):
            editing.publish(session, user, empty)
    post_id, (image_id,) = make_post(runtime, owner, scan=False, publish=True)
    assert anonymous_sees(runtime, post_id)
    with runtime.db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None and editing.shown_images(None, post) == []
    with runtime.db.transaction() as session:
        ingest.ingest_now(session, image_id)
    with runtime.db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None and [image.id for image in editing.shown_images(None, post)] == [image_id]


@pytest.mark.parametrize(
    ("title", "detail"),
    [("x" * 256, None), ("bad\x00title", None), ("ok", "nul\x00inside"), ("ok", "y" * (editing.MAX_DETAIL + 1))],
)
def test_bad_titles_and_descriptions_are_refused(runtime, owner, title, detail):
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        assert user is not None
        with pytest.raises(ValidationFailed):
            editing.create_post(session, user, title=title, detail=detail)
    with runtime.db.session() as session:
        assert session.scalar(select(Post.id)) is None


def test_a_post_holds_at_most_the_limit_of_images(runtime, owner):
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        assert user is not None
        post = editing.create_post(session, user, title="Many")
        with pytest.raises(ValidationFailed, match=f"at most {MAX_POST_IMAGES}"):
            editing.add_images(session, user, post, [png()] * (MAX_POST_IMAGES + 1))


def test_a_post_of_someone_elses_version_is_made_with_it_not_its_showcase(runtime, owner):
    creator = create_user(runtime)
    made = create_model(runtime, creator, with_post=False, published=True)
    post_id, _ = make_post(runtime, owner, version_id=made.version_ids[0], publish=True)
    with runtime.db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None and post.model_version_id == made.version_ids[0]
        showcase = session.scalars(
            visibility.with_versions(select(Post.id)).where(visibility.showcase_posts(), Post.id == post_id)
        ).all()
        assert showcase == []
    assert anonymous_sees(runtime, post_id)


def test_only_versions_the_owner_may_see_are_attached(runtime, owner):
    creator = create_user(runtime)
    draft = create_model(runtime, creator, with_post=False, published=False)
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        assert user is not None
        for version_id in (draft.version_ids[0], 2**31 - 1, 2**31 + 5):
            with pytest.raises(NotFound):
                editing.create_post(session, user, title="x", version_id=version_id)
    mine = create_model(runtime, owner, with_post=False, published=False)
    post_id, _ = make_post(runtime, owner, version_id=mine.version_ids[0])
    with runtime.db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None and post.model_version_id == mine.version_ids[0]


def test_others_cannot_change_a_post_they_see(runtime, owner):
    post_id, (image_id,) = make_post(runtime, owner, publish=True)
    with runtime.db.transaction() as session:
        stranger = session.get(User, create_user(runtime).id)
        assert stranger is not None
        with pytest.raises(Forbidden):
            editing.editable_post(session, stranger, post_id)
        post = session.get(Post, post_id)
        image = session.get(Image, image_id)
        assert post is not None and image is not None
        for attempt in (
            lambda: editing.unpublish(session, stranger, post),
            lambda: editing.delete_post(session, stranger, post),
            lambda: editing.reorder(session, stranger, post, [image_id]),
            lambda: editing.set_hide_meta(session, stranger, image, True),
            lambda: editing.remove_image(session, stranger, image),
        ):
            with pytest.raises(Forbidden):
                attempt()


def test_deleting_a_post_deletes_its_images_and_forgets_their_bytes_later(runtime, owner):
    post_id, image_ids = make_post(runtime, owner, colors=("red", "blue"), publish=True)
    with runtime.db.session() as session:
        keys = set(session.scalars(select(Image.storage_key).where(Image.id.in_(image_ids))))
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        post = session.get(Post, post_id)
        assert user is not None and post is not None
        editing.delete_post(session, user, post)
    with runtime.db.session() as session:
        assert session.get(Post, post_id) is None
        assert session.scalars(select(Image.id).where(Image.id.in_(image_ids))).all() == []
        forgotten = {
            job.payload.get("storage_key") for job in session.scalars(select(Job)) if job.name == "images.forget_object"
        }
    assert keys <= forgotten


def test_reorder_lists_every_image_once(runtime, owner):
    post_id, ids = make_post(runtime, owner, colors=("red", "green", "blue"), scan=False)
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        post = session.get(Post, post_id)
        assert user is not None and post is not None
        for bad in ([ids[0], ids[1]], [ids[0], ids[0], ids[1], ids[2]], [*ids, 999_999], []):
            with pytest.raises(ValidationFailed):
                editing.reorder(session, user, post, bad)
        editing.reorder(session, user, post, [ids[2], ids[0], ids[1]])
    with runtime.db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None and [image.id for image in post.images] == [ids[2], ids[0], ids[1]]


def test_a_made_with_post_goes_down_and_comes_back_with_its_version(runtime, owner):
    creator = create_user(runtime)
    made = create_model(runtime, creator, with_post=False, published=True)
    post_id, _ = make_post(runtime, owner, version_id=made.version_ids[0], publish=True)
    with runtime.db.transaction() as session:
        model = session.get(Model, made.id)
        actor = session.get(User, creator.id)
        assert model is not None
        lifecycle.unpublish_model(session, model, actor)
    assert not anonymous_sees(runtime, post_id)
    with runtime.db.transaction() as session:
        model = session.get(Model, made.id)
        actor = session.get(User, creator.id)
        assert model is not None
        lifecycle.publish_model(session, model, actor)
    assert anonymous_sees(runtime, post_id)


def test_a_draft_on_the_owners_version_stays_a_draft_when_the_version_goes_live(runtime, owner):
    mine = create_model(runtime, owner, with_post=False, published=False)
    post_id, _ = make_post(runtime, owner, version_id=mine.version_ids[0])
    with runtime.db.transaction() as session:
        model = session.get(Model, mine.id)
        actor = session.get(User, owner.id)
        assert model is not None
        lifecycle.publish_model(session, model, actor)
    with runtime.db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None and post.published_at is None
    assert not anonymous_sees(runtime, post_id)


def test_removing_the_last_image_of_a_published_post_makes_it_a_draft(runtime, owner):
    post_id, (image_id,) = make_post(runtime, owner, publish=True)
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        image = session.get(Image, image_id)
        assert user is not None and image is not None
        editing.remove_image(session, user, image)
    with runtime.db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None and post.published_at is None and post.images == []
