"""Ingestion through its one way in (`images.ingest.accept_upload`) and its jobs: what is stored where, what is
served, what is stripped, and how the states move (Pending → Scanned / Blocked / Error, rescan)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image as PILImage
from PIL import ImageOps
from sqlalchemy import select

from modelyard.accounts.models import User
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict, Forbidden
from modelyard.core.jobs.models import DeadLetter, Job, JobStatus
from modelyard.core.jobs.runner import execute
from modelyard.images import events, ingest
from modelyard.images.models import Image, Ingestion, Post
from modelyard.images.urls import poster_key, thumbnail_key, thumbnail_url
from tests.images.pictures import SERIAL, animation, encoded, jpeg_with_private_exif, oriented_jpeg, png, scene
from tests.support.factories import UserFixture, create_user
from tests.support.ingestion import image, new_post, run_ingestion, upload


@pytest.fixture
def owner(runtime) -> UserFixture:
    return create_user(runtime)


def stored(runtime, key: str) -> PILImage.Image:
    picture = PILImage.open(io.BytesIO(runtime.storage.read_bytes(key)))
    picture.load()
    return picture


@pytest.fixture
def outcomes() -> Iterator[list[tuple[int, events.IngestOutcome]]]:
    seen: list[tuple[int, events.IngestOutcome]] = []

    def record(session, image, outcome) -> None:
        seen.append((image.id, outcome))

    events.on_image_ingested(record)
    yield seen
    events._hooks.remove(record)


def test_an_upload_is_pending_with_a_private_original_until_its_jobs_run(runtime, client, owner, outcomes):
    image_id = upload(runtime, owner, encoded(scene((900, 600)), "PNG"), name="scene\x00.png")
    pending = image(runtime, image_id)
    assert pending.ingestion == Ingestion.Pending
    assert pending.original_key.startswith("originals/") and pending.storage_key == pending.original_key
    assert (pending.width, pending.height, pending.nsfw_level, pending.name) == (900, 600, 0, "scene.png")
    assert client.get(f"/media/{pending.original_key}").status_code == 404

    assert run_ingestion(runtime) >= 2  # the processing step, then the classifier
    done = image(runtime, image_id)
    assert done.ingestion == Ingestion.Scanned and done.scanned_at is not None
    assert done.storage_key.startswith("images/") and done.original_key == pending.original_key
    assert (done.width, done.height, done.mime_type) == (900, 600, "image/webp")
    assert done.thumbnail_widths == [320, 640]  # 1024 is wider than the picture
    assert done.blurhash and done.phash is not None and 0 <= done.nsfw_score <= 1
    assert done.nsfw_level in (1, 2, 4, 8, 16)
    assert outcomes == [(image_id, events.IngestOutcome(uncertain=False, lookalike_of=None, first_upload=True))]

    served = client.get(f"/media/{done.storage_key}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
    thumbnail = client.get(f"/media/{thumbnail_key(done.storage_key, 320)}")
    assert thumbnail.status_code == 200 and PILImage.open(io.BytesIO(thumbnail.content)).size == (320, 213)
    assert client.get(f"/media/{done.original_key}").status_code == 404  # never, even once public
    assert thumbnail_url(done, 300, public=True) == f"/media/{thumbnail_key(done.storage_key, 320)}"
    assert thumbnail_url(done, 2000, public=True) == f"/media/{done.storage_key}"


def test_the_second_upload_is_not_the_owners_first(runtime, owner, outcomes):
    first = upload(runtime, owner, png("red"))
    second = upload(runtime, owner, png("blue"))
    run_ingestion(runtime)
    assert dict(outcomes) == {
        first: events.IngestOutcome(uncertain=False, lookalike_of=None, first_upload=True),
        second: events.IngestOutcome(uncertain=False, lookalike_of=None, first_upload=False),
    }


def test_images_pending_or_in_error_are_not_served(runtime, client, owner):
    image_id = upload(runtime, owner, png("red"))
    with runtime.db.transaction() as session:
        ingest.ingest_now(session, image_id)
    key = image(runtime, image_id).storage_key
    assert client.get(f"/media/{key}").status_code == 200
    with runtime.db.transaction() as session:
        row = session.get(Image, image_id)
        row.ingestion = Ingestion.Error
    assert client.get(f"/media/{key}").status_code == 404
    assert client.get(f"/media/{thumbnail_key(key, 320)}").status_code == 404


def test_the_public_copy_carries_no_gps_no_serial_and_no_profile(runtime, owner):
    original = jpeg_with_private_exif()
    assert SERIAL.encode() in original
    image_id = upload(runtime, owner, original)
    run_ingestion(runtime)
    done = image(runtime, image_id)
    keys = [done.storage_key, *(thumbnail_key(done.storage_key, width) for width in done.thumbnail_widths)]
    for key in keys:
        data = runtime.storage.read_bytes(key)
        assert SERIAL.encode() not in data and b"Exif" not in data and b"ICCP" not in data and b"XMP" not in data
        picture = stored(runtime, key)
        assert not picture.getexif() and "icc_profile" not in picture.info and "exif" not in picture.info
    assert SERIAL.encode() in runtime.storage.read_bytes(done.original_key)  # the original, kept privately


@pytest.mark.parametrize("orientation", [6, 8])
def test_the_exif_orientation_is_applied_to_the_size_and_the_pixels(runtime, owner, orientation):
    original = oriented_jpeg(orientation)
    image_id = upload(runtime, owner, original)
    assert (image(runtime, image_id).width, image(runtime, image_id).height) == (30, 60)  # known at upload
    run_ingestion(runtime)
    done = image(runtime, image_id)
    copy = stored(runtime, done.storage_key).convert("RGB")
    expected = ImageOps.exif_transpose(PILImage.open(io.BytesIO(original))).convert("RGB")
    assert copy.size == expected.size == (30, 60)
    for corner in [(2, 2), (27, 57)]:
        assert max(abs(a - b) for a, b in zip(copy.getpixel(corner), expected.getpixel(corner), strict=True)) < 40


@pytest.mark.parametrize("orientation", [0, 9, 65535])
def test_an_unknown_orientation_is_no_orientation(runtime, owner, orientation):
    image_id = upload(runtime, owner, oriented_jpeg(orientation))
    run_ingestion(runtime)
    done = image(runtime, image_id)
    assert (done.ingestion, done.width, done.height) == (Ingestion.Scanned, 60, 30)


@pytest.mark.parametrize("format", ["GIF", "WEBP"])
def test_an_animation_stays_animated_with_a_still_poster(runtime, client, owner, format):
    image_id = upload(runtime, owner, animation(format))
    assert image(runtime, image_id).animated
    run_ingestion(runtime)
    done = image(runtime, image_id)
    assert done.ingestion == Ingestion.Scanned and done.animated
    copy = stored(runtime, done.storage_key)
    assert copy.format == "WEBP" and copy.n_frames == 3
    durations = []
    for frame in range(3):
        copy.seek(frame)
        copy.load()
        durations.append(copy.info["duration"])
    assert durations == [70, 80, 90]
    assert done.poster_key == poster_key(done.storage_key)
    poster = stored(runtime, done.poster_key)
    assert getattr(poster, "n_frames", 1) == 1 and poster.convert("RGB").getpixel((5, 5))[0] > 200  # red
    assert client.get(f"/media/{done.poster_key}").status_code == 200


def test_ingest_now_does_everything_and_the_queued_jobs_find_it_done(runtime, owner):
    image_id = upload(runtime, owner, png("red"))
    with runtime.db.transaction() as session:
        ingest.ingest_now(session, image_id)
    done = image(runtime, image_id)
    assert done.ingestion == Ingestion.Scanned
    run_ingestion(runtime)
    assert image(runtime, image_id).scanned_at == done.scanned_at


def test_generation_data_is_read_from_the_original(runtime, owner):
    parameters = "a red fox\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x48"
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", parameters)
    image_id = upload(runtime, owner, encoded(PILImage.new("RGB", (64, 48), "red"), "PNG", pnginfo=info))
    run_ingestion(runtime)
    meta = image(runtime, image_id).meta
    assert meta is not None and meta["prompt"] == "a red fox" and meta["seed"] == 42


def test_the_uploaders_own_data_wins_over_the_files(runtime, owner):
    image_id = upload(runtime, owner, png("red"), meta={"prompt": "given"})
    run_ingestion(runtime)
    assert image(runtime, image_id).meta == {"prompt": "given"}


def test_a_picture_damaged_inside_is_error_at_once(runtime, owner):
    good = encoded(scene((64, 64)), "PNG")
    # Every chunk well formed, the pixel data itself garbage: the cheap checks pass, decoding fails.
    from tests.images.pictures import chunk

    damaged = good[:33] + chunk(b"IDAT", b"\x78\x9c" + b"\xff" * 200) + chunk(b"IEND", b"")
    image_id = upload(runtime, owner, damaged)
    run_ingestion(runtime)
    failed = image(runtime, image_id)
    assert failed.ingestion == Ingestion.Error and "damaged" in failed.ingestion_error


def test_a_step_that_keeps_failing_leaves_the_image_in_error_and_a_rescan_recovers(runtime, owner):
    original = png("red")
    image_id = upload(runtime, owner, original)
    key = image(runtime, image_id).original_key
    runtime.storage.delete(key)  # the storage loses the object: every attempt fails
    with runtime.db.session() as session:
        job_id, attempts = session.execute(
            select(Job.id, Job.max_attempts).where(
                Job.name == "images.ingest", Job.payload["image_id"].as_integer() == image_id
            )
        ).one()
    for _ in range(attempts):
        assert image(runtime, image_id).ingestion == Ingestion.Pending
        with runtime.db.transaction() as session:
            session.get(Job, job_id).run_after = utcnow()
        execute(runtime, job_id)
    failed = image(runtime, image_id)
    assert failed.ingestion == Ingestion.Error and "Processing failed after every retry" in failed.ingestion_error
    with runtime.db.session() as session:
        assert session.get(Job, job_id).status == JobStatus.dead
        assert session.scalar(select(DeadLetter.job_id).where(DeadLetter.job_id == job_id)) == job_id

    runtime.storage.save(key, original)
    with runtime.db.transaction() as session:
        ingest.rescan(session, session.get(User, owner.id), session.get(Image, image_id))
    assert image(runtime, image_id).ingestion == Ingestion.Pending
    run_ingestion(runtime)
    recovered = image(runtime, image_id)
    assert recovered.ingestion == Ingestion.Scanned and recovered.ingestion_error is None


def test_a_rescan_rates_again_and_only_owners_and_moderators_may(runtime, owner):
    image_id = upload(runtime, owner, png("red"))
    run_ingestion(runtime)
    stranger = create_user(runtime)
    with runtime.db.transaction() as session, pytest.raises(Forbidden):
        ingest.rescan(session, session.get(User, stranger.id), session.get(Image, image_id))
    with runtime.db.transaction() as session:
        ingest.rescan(session, None, session.get(Image, image_id))
    assert image(runtime, image_id).ingestion == Ingestion.Pending
    run_ingestion(runtime)
    assert image(runtime, image_id).ingestion == Ingestion.Scanned
    with runtime.db.transaction() as session:
        session.get(Image, image_id).ingestion = Ingestion.Blocked
    with runtime.db.transaction() as session, pytest.raises(Conflict):
        ingest.rescan(session, None, session.get(Image, image_id))


def test_nobody_adds_images_to_someone_elses_post(runtime, owner):
    post_id = new_post(runtime, owner)
    stranger = create_user(runtime)
    with runtime.db.transaction() as session, pytest.raises(Forbidden):
        ingest.accept_upload(session, session.get(User, stranger.id), session.get(Post, post_id), png())


def test_several_waiting_images_are_rated_in_one_run(runtime, owner):
    post_id = new_post(runtime, owner)
    ids = [upload(runtime, owner, png(colour), post_id=post_id) for colour in ("red", "green", "blue")]
    with runtime.db.session() as session:
        ingest_jobs = session.scalars(select(Job.id).where(Job.name == "images.ingest").order_by(Job.created_at)).all()
    for job_id in ingest_jobs:
        execute(runtime, job_id)
    with runtime.db.session() as session:
        classify_jobs = session.scalars(
            select(Job.id).where(Job.name == "images.classify").order_by(Job.created_at)
        ).all()
    assert len(classify_jobs) == 3
    execute(runtime, classify_jobs[0])  # the first rates all three
    assert [image(runtime, image_id).ingestion for image_id in ids] == [Ingestion.Scanned] * 3
    with runtime.db.session() as session:
        assert [image.index for image in session.get(Post, post_id).images] == [0, 1, 2]
