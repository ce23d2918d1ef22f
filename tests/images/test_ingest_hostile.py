"""Hostile files at the one way in: each is refused with a clear 4xx before anything is stored, through the
service and through the showcase API; a blocked picture re-uploaded with a few changes is caught."""

from __future__ import annotations

import io
import tracemalloc

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from modelyard.accounts.models import User
from modelyard.core.errors import AppError
from modelyard.images import events, ingest, moderate
from modelyard.images.models import BlockedFor, Image, Ingestion, Post
from tests.images.pictures import MIB, encoded, hostile_pictures, png_of, png_with_big_text, scene
from tests.images.test_showcase import bearer
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user
from tests.support.ingestion import image, new_post, run_ingestion, upload

HOSTILE = hostile_pictures()


@pytest.fixture
def owner(runtime) -> UserFixture:
    return create_user(runtime)


def stored_keys(runtime) -> set[str]:
    return {*runtime.storage.iter_keys("originals/"), *runtime.storage.iter_keys("images/")}


def nothing_stored(runtime, before: set[str]) -> None:
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 0
    assert stored_keys(runtime) == before


def refused(runtime, owner, data: bytes) -> AppError:
    post_id = new_post(runtime, owner)
    with runtime.db.transaction() as session, pytest.raises(AppError) as caught:
        ingest.accept_upload(session, session.get(User, owner.id), session.get(Post, post_id), data)
    return caught.value


@pytest.mark.parametrize("case", HOSTILE, ids=[case.name for case in HOSTILE])
def test_a_hostile_file_is_refused_before_anything_is_stored(runtime, owner, case):
    before = stored_keys(runtime)
    error = refused(runtime, owner, case.data)
    assert error.status_code == case.status and case.says in error.detail
    nothing_stored(runtime, before)


@pytest.mark.parametrize("case", HOSTILE[:2] + HOSTILE[4:6] + HOSTILE[8:9], ids=lambda case: case.name)
def test_the_showcase_api_refuses_them_with_a_clear_error(runtime, client, owner, case):
    made = create_model(runtime, owner, with_post=False, published=True)
    before = stored_keys(runtime)
    files = [("images", ("fine.png", encoded(scene(), "PNG"))), ("images", ("evil.png", case.data))]
    response = client.post(
        f"/api/model-versions/{made.version_ids[0]}/showcase", files=files, headers=bearer(runtime, owner)
    )
    assert response.status_code == case.status and case.says in response.json()["detail"]
    nothing_stored(runtime, before)  # not even the good file of the batch


def test_pillows_bomb_warning_is_an_error(runtime, owner, monkeypatch):
    # With the limit from settings above Pillow's own, Pillow's warning (not an error of its own) must refuse it.
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"image_max_pixels": 10**9}))
    before = stored_keys(runtime)
    error = refused(runtime, owner, png_of(10_000, 10_000))
    assert error.status_code == 422 and "too many pixels" in error.detail
    nothing_stored(runtime, before)


def test_a_50_mb_text_chunk_is_measured_not_read(runtime, owner, monkeypatch):
    data = png_with_big_text(50, compressed=False)
    before = stored_keys(runtime)
    assert refused(runtime, owner, data).status_code == 413  # past the default upload size
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"image_max_upload_mb": 64}))
    tracemalloc.start()
    try:
        error = refused(runtime, owner, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.status_code == 422 and "MB of text" in error.detail
    assert peak < 5 * MIB  # the 50 MB were never copied into a string
    nothing_stored(runtime, before)


def test_too_many_frames_are_refused(runtime, owner, monkeypatch):
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"image_max_frames": 2}))
    frames = [PILImage.new("RGB", (8, 8), colour) for colour in ("red", "lime", "blue")]
    error = refused(runtime, owner, encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    assert error.status_code == 422 and "frames" in error.detail


def altered(picture: PILImage.Image) -> bytes:
    """The picture with a few pixels changed, scaled by 3 % and re-encoded as a JPEG."""
    changed = picture.copy()
    for x in range(0, 40, 4):
        changed.putpixel((10 + x, 20), (255, 255, 255))
    changed = changed.resize((round(changed.width * 0.97), round(changed.height * 0.97)), PILImage.Resampling.BICUBIC)
    out = io.BytesIO()
    changed.save(out, format="JPEG", quality=85)
    return out.getvalue()


def test_a_blocked_picture_uploaded_again_with_changes_is_blocked_as_a_lookalike(runtime, owner):
    seen: list[events.IngestOutcome] = []
    hook = events.on_image_ingested(lambda session, image, outcome: seen.append(outcome))
    try:
        picture = scene((640, 480), seed=7)
        first = upload(runtime, owner, encoded(picture, "PNG"))
        run_ingestion(runtime)
        with runtime.db.transaction() as session:
            moderate.block(session, session.get(Image, first), reason=BlockedFor.moderated, actor=None, note="gore")
        again = upload(runtime, owner, altered(picture))
        other = upload(runtime, owner, encoded(scene((640, 480), seed=8), "PNG"))
        run_ingestion(runtime)
    finally:
        events._hooks.remove(hook)
    caught = image(runtime, again)
    assert (caught.ingestion, caught.blocked_for) == (Ingestion.Blocked, BlockedFor.lookalike)
    assert image(runtime, other).ingestion == Ingestion.Scanned
    assert [outcome.lookalike_of for outcome in seen] == [None, first, None]
