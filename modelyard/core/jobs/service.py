"""Enqueueing, retrying, dead-lettering and requeueing jobs. Called inside the caller's transaction."""

from __future__ import annotations

import json
import logging
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from modelyard.core.db import on_commit, utcnow
from modelyard.core.errors import Conflict, NotFound, ValidationFailed
from modelyard.core.jobs.models import DeadLetter, Job, JobStatus
from modelyard.core.jobs.registry import REGISTRY
from modelyard.core.runtime import Runtime, get_runtime

log = logging.getLogger("modelyard.jobs")


def enqueue(
    session: Session,
    name: str,
    *,
    delay: timedelta | float | None = None,
    dedupe_key: str | None = None,
    priority: int | None = None,
    **payload: Any,
) -> Job:
    """Record a job in the caller's transaction; it is sent to the queue once that transaction commits.

    With `dedupe_key`, a second enqueue of the same key returns the first job instead of adding another.
    """
    spec = REGISTRY.get(name)
    if spec is None:
        raise ValueError(f"no job named {name!r} is registered")
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"arguments of job {name} must be JSON values: {exc}") from exc
    settings = get_runtime().settings
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay or 0)
    now = utcnow()
    job = Job(
        id=uuid.uuid4().hex,
        name=name,
        payload=payload,
        status=JobStatus.pending,
        priority=spec.priority if priority is None else priority,
        attempts=0,
        max_attempts=spec.max_attempts or settings.job_max_attempts,
        dedupe_key=dedupe_key,
        run_after=now + timedelta(seconds=seconds),
        sent_at=now,
        created_at=now,
    )
    if dedupe_key is None:
        session.add(job)
    else:
        existing = session.scalar(select(Job).where(Job.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
        try:
            with session.begin_nested():
                session.add(job)
        except IntegrityError:
            # Another process recorded the same key between our read and our insert.
            found = session.scalar(select(Job).where(Job.dedupe_key == dedupe_key))
            if found is None:
                raise
            return found
    send_after_commit(session, job.id, priority=job.priority, delay=seconds)
    return job


def send_after_commit(session: Session, job_id: str, *, priority: int, delay: float = 0) -> None:
    def send() -> None:
        runtime = get_runtime()
        try:
            runtime.queue.send(job_id, priority=priority, delay=delay)
        except Exception:
            log.warning("could not send a job to the queue; the reaper will", exc_info=True, extra={"job_id": job_id})
            _mark_unsent(runtime, job_id)

    on_commit(session, send)


def _mark_unsent(runtime: Runtime, job_id: str) -> None:
    try:
        with runtime.db.transaction() as session:
            session.execute(update(Job).where(Job.id == job_id).values(sent_at=None))
    except SQLAlchemyError:
        log.warning("could not mark a job unsent; it is re-sent after the resend window", exc_info=True)


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter: base * 2^(attempt - 1), capped, ±20 % so retries of many jobs spread."""
    settings = get_runtime().settings
    base = settings.job_backoff_seconds * (2 ** max(attempt - 1, 0))
    capped = min(base, settings.job_backoff_max_seconds)
    return capped * random.uniform(0.8, 1.2)


def record_failure(
    session: Session, job: Job, *, error: str, traceback: str | None, retry_delay: float | None = None
) -> None:
    """After a failed attempt: schedule a retry with backoff (or `retry_delay`), or move the job to the
    dead-letter table."""
    now = utcnow()
    job.last_error = error[:10_000]
    job.locked_until = None
    if job.attempts >= job.max_attempts:
        job.status = JobStatus.dead
        job.finished_at = now
        session.add(
            DeadLetter(
                job_id=job.id,
                name=job.name,
                payload=job.payload,
                attempts=job.attempts,
                error=job.last_error,
                traceback=traceback,
                failed_at=now,
            )
        )
        return
    delay = backoff_seconds(job.attempts) if retry_delay is None else retry_delay
    job.status = JobStatus.pending
    job.run_after = now + timedelta(seconds=delay)
    job.sent_at = now
    send_after_commit(session, job.id, priority=job.priority, delay=delay)


def list_dead_letters(session: Session, *, limit: int = 100, name: str | None = None) -> list[DeadLetter]:
    query = select(DeadLetter).order_by(DeadLetter.failed_at.desc()).limit(limit)
    if name:
        query = query.where(DeadLetter.name == name)
    return list(session.scalars(query))


def requeue(session: Session, job_id: str) -> Job:
    """Give a dead job a fresh set of attempts."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"No job with id {job_id}")
    if job.status != JobStatus.dead:
        raise Conflict(f"Job {job_id} is {job.status.value}; only dead jobs can be requeued")
    letter = session.scalar(select(DeadLetter).where(DeadLetter.job_id == job_id))
    if letter is not None:
        session.delete(letter)
    now = utcnow()
    job.status = JobStatus.pending
    job.attempts = 0
    job.run_after = now
    job.sent_at = now
    job.finished_at = None
    send_after_commit(session, job.id, priority=job.priority)
    return job


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    counts = {status.value: 0 for status in JobStatus}
    counts.update({status.value if isinstance(status, JobStatus) else status: n for status, n in rows})
    return counts


def prune_finished(session: Session, *, older_than: datetime) -> int:
    """Delete succeeded jobs finished before `older_than` (dead ones stay until handled)."""
    old = session.scalars(
        select(Job.id).where(Job.status == JobStatus.succeeded, Job.finished_at < older_than).limit(10_000)
    ).all()
    if old:
        session.execute(delete(Job).where(Job.id.in_(old)))
    return len(old)
