"""Tags that rate content: a moderator sets a tag's level, every image carrying it is rated again by a job
(batch after batch), except an image whose level a moderator locked; the change is logged; only moderators."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from modelyard.accounts.models import Role
from modelyard.catalog.enums import TagType
from modelyard.catalog.models import Tag
from modelyard.core.jobs.models import Job, JobStatus
from modelyard.core.jobs.runner import execute
from modelyard.core.runtime import Runtime
from modelyard.images import levels
from modelyard.images.models import Image, Post, TagOnImage, TagSource
from modelyard.moderation.models import ModerationLog
from tests.images.test_feed import add_image
from tests.support.factories import create_user, log_in

HTML = {"Accept": "text/html"}


def _tagged(runtime: Runtime, owner, name: str, count: int) -> tuple[int, list[int]]:  # type: ignore[no-untyped-def]
    images = [add_image(runtime, owner, level=1) for _ in range(count)]
    with runtime.db.transaction() as session:
        tag = Tag(name=name)
        session.add(tag)
        session.flush()
        session.add_all(TagOnImage(image_id=i, tag_id=tag.id, source=TagSource.moderator) for i in images)
        return tag.id, images


def _run_jobs(runtime: Runtime) -> int:
    ran = 0
    for _ in range(20):
        with runtime.db.transaction() as session:
            session.execute(update(Job).where(Job.status == JobStatus.pending).values(run_after=Job.created_at))
            pending = session.scalars(
                select(Job.id).where(Job.name == "images.apply_tag_level", Job.status == JobStatus.pending)
            ).all()
        if not pending:
            return ran
        for job_id in pending:
            execute(runtime, job_id)
            ran += 1
    return ran


def test_a_tags_level_rates_its_images_again_in_batches(runtime: Runtime, client: TestClient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    owner = create_user(runtime)
    moderator = create_user(runtime, role=Role.moderator)
    tag_id, images = _tagged(runtime, owner, "nightclub", 5)
    with runtime.db.transaction() as session:
        session.execute(update(Image).where(Image.id == images[0]).values(nsfw_level_locked=True))
    monkeypatch.setattr(levels, "TAG_BATCH", 2)
    log_in(client, moderator)
    page = client.get("/moderation/tags", headers=HTML)
    assert page.status_code == 200 and 'data-tag="nightclub"' in page.text
    saved = client.post(
        f"/moderation/tags/{tag_id}",
        data={"level": "4", "moderation": "on", "reason": "it rates R"},
        headers=HTML,
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert _run_jobs(runtime) == 3  # five images, two a run
    with runtime.db.session() as session:
        tag = session.get(Tag, tag_id)
        assert tag is not None and tag.nsfw_level == 4 and tag.type == TagType.moderation
        rated = dict(session.execute(select(Image.id, Image.nsfw_level).where(Image.id.in_(images))).all())
        assert rated == {images[0]: 1, **dict.fromkeys(images[1:], 4)}  # the locked one keeps its level
        post_levels = session.scalars(
            select(Post.nsfw_level).join(Image, Image.post_id == Post.id).where(Image.id.in_(images[1:]))
        ).all()
        assert set(post_levels) == {4}
        line = session.scalars(select(ModerationLog).where(ModerationLog.entity_type == "tag")).one()
        assert line.actor_id == moderator.id and line.detail == {
            "tag": "nightclub",
            "from": 1,
            "to": 4,
            "type": "Moderation",
        }


def test_bad_levels_and_plain_members_change_nothing(runtime: Runtime, client: TestClient) -> None:
    owner = create_user(runtime)
    moderator = create_user(runtime, role=Role.moderator)
    tag_id, _ = _tagged(runtime, owner, "harbour", 1)
    log_in(client, owner)
    assert client.post(f"/moderation/tags/{tag_id}", data={"level": "8"}, headers=HTML).status_code in (403, 404)
    log_in(client, moderator)
    for level in ("3", "64", "x", ""):
        answer = client.post(f"/moderation/tags/{tag_id}", data={"level": level}, headers=HTML)
        assert answer.status_code == 422, (level, answer.status_code)
    assert client.post("/moderation/tags/999999", data={"level": "8"}, headers=HTML).status_code == 404
    assert client.post(f"/moderation/tags/{2**40}", data={"level": "8"}, headers=HTML).status_code in (404, 422)
    with runtime.db.session() as session:
        tag = session.get(Tag, tag_id)
        assert tag is not None and tag.nsfw_level == 1
        assert session.scalars(select(Job.id).where(Job.name == "images.apply_tag_level")).first() is None
