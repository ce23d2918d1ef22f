"""Image ingestion in tests: uploads through the one way in, and the queued `images.ingest` and `images.classify`
jobs run as the workers do, through the real job runner, until none is left."""

from __future__ import annotations

from sqlalchemy import select, update

from modelyard.accounts.models import User
from modelyard.core.db import utcnow
from modelyard.core.jobs.models import Job, JobStatus
from modelyard.core.jobs.runner import execute
from modelyard.core.runtime import Runtime
from modelyard.images import ingest
from modelyard.images.models import Image, Post
from tests.support.factories import UserFixture

STEPS = ("images.ingest", "images.classify")


def run_ingestion(runtime: Runtime, *, rounds: int = 10) -> int:
    """Run the queued ingestion jobs (and those they queue) now, their backoff waived; how many runs there were."""
    ran = 0
    for _ in range(rounds):
        with runtime.db.transaction() as session:
            session.execute(
                update(Job).where(Job.name.in_(STEPS), Job.status == JobStatus.pending).values(run_after=Job.created_at)
            )
            pending = session.scalars(
                select(Job.id).where(Job.name.in_(STEPS), Job.status == JobStatus.pending).order_by(Job.created_at)
            ).all()
        if not pending:
            return ran
        for job_id in pending:
            execute(runtime, job_id)
            ran += 1
    return ran


def new_post(runtime: Runtime, owner: UserFixture, *, published: bool = True) -> int:
    """A post of no model version, published unless asked otherwise."""
    with runtime.db.transaction() as session:
        post = Post(user_id=owner.id, title="Mine", published_at=utcnow() if published else None)
        session.add(post)
        session.flush()
        return post.id


def upload(runtime: Runtime, owner: UserFixture, data: bytes, *, post_id: int | None = None, **options: object) -> int:
    """`accept_upload` in a transaction of its own (to a new post unless one is given); the image's id."""
    post_id = post_id or new_post(runtime, owner)
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        post = session.get(Post, post_id)
        assert user is not None and post is not None
        return ingest.accept_upload(session, user, post, data, **options).id  # type: ignore[arg-type]


def image(runtime: Runtime, image_id: int) -> Image:
    """The image row as it is now, detached."""
    with runtime.db.session() as session:
        found = session.get(Image, image_id)
        assert found is not None
        session.expunge(found)
        return found
