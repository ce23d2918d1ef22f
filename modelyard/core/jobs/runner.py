"""Running one job, keeping its lease alive, and recovering jobs whose worker died.

Concurrency invariants (read before changing):
- A job is claimed by one UPDATE that moves it pending → running and bumps `attempts`; a delivery that finds it
  not pending does nothing, so duplicate deliveries are harmless.
- The job's own writes commit in the same transaction as its `succeeded` mark, and that mark is fenced on
  (status = running, attempts = this attempt). A worker that lost its lease (paused, partitioned) can therefore
  never commit an effect after another worker took the job over.
- The reaper hands expired leases back to pending; the next claim counts a new attempt.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback as traceback_module
from datetime import timedelta

from sqlalchemy import event, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from modelyard.core.db import affected_rows, utcnow
from modelyard.core.jobs.models import Job, JobStatus
from modelyard.core.jobs.registry import REGISTRY
from modelyard.core.jobs.service import record_failure, send_after_commit
from modelyard.core.runtime import Runtime

log = logging.getLogger("modelyard.jobs")

CLOCK_SKEW = timedelta(seconds=1)


def execute(runtime: Runtime, job_id: str) -> None:
    """Claim and run one job; called by a queue consumer thread with the id huey delivered."""
    attempt = _claim(runtime, job_id)
    if attempt is None:
        return
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        name, payload = job.name, dict(job.payload)
    spec = REGISTRY.get(name)
    started = time.perf_counter()
    with LeaseKeeper(runtime, job_id, attempt):
        try:
            if spec is None:
                raise LookupError(f"no job named {name!r} is registered in this process")
            with runtime.db.session(write=True) as session:
                began = _note_transaction_start(session)
                spec.func(session, **payload)
                finished = session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == JobStatus.running, Job.attempts == attempt)
                    .values(status=JobStatus.succeeded, finished_at=utcnow(), locked_until=None, last_error=None)
                )
                if affected_rows(finished) != 1:
                    session.rollback()
                    log.warning(
                        "job lost its lease before finishing; its work was rolled back",
                        extra={"job_id": job_id, "job": name, "attempt": attempt},
                    )
                    return
                session.commit()
                _warn_if_lock_held(runtime, name, job_id, began)
        except Exception as exc:  # noqa: BLE001 - any failure of the job itself is retried or dead-lettered
            outcome = _fail(runtime, job_id, attempt, exc)
            runtime.metrics.job_finished(name, outcome, time.perf_counter() - started)
            return
    runtime.metrics.job_finished(name, "succeeded", time.perf_counter() - started)
    log.info(
        "job succeeded",
        extra={
            "job_id": job_id,
            "job": name,
            "attempt": attempt,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )


# On SQLite a job's session holds the database's one write lock from its first statement to its commit; past
# this, other writers are close to their busy timeout (log-ins fail). Long work belongs before that statement.
LOCK_WARNING_SECONDS = 1.0


def _note_transaction_start(session: Session) -> list[float]:
    began: list[float] = []
    event.listen(session, "after_begin", lambda *_: began.append(time.perf_counter()))
    return began


def _warn_if_lock_held(runtime: Runtime, name: str, job_id: str, began: list[float]) -> None:
    if runtime.db.dialect != "sqlite" or not began:
        return
    held = time.perf_counter() - began[0]
    if held > LOCK_WARNING_SECONDS:
        log.warning(
            "job held the SQLite write lock for %.1f s: every other writer waited; do the long work before the "
            "job's first statement (read in a session of its own)",
            held,
            extra={"job_id": job_id, "job": name, "held_ms": round(held * 1000)},
        )


def _claim(runtime: Runtime, job_id: str) -> int | None:
    now = utcnow()
    with runtime.db.transaction() as session:
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.pending, Job.run_after <= now + CLOCK_SKEW)
            .values(
                status=JobStatus.running,
                attempts=Job.attempts + 1,
                started_at=now,
                locked_until=now + timedelta(seconds=runtime.settings.job_lease_seconds),
            )
        )
        if affected_rows(claimed) != 1:
            return None
        return session.scalar(select(Job.attempts).where(Job.id == job_id))


def _fail(runtime: Runtime, job_id: str, attempt: int, exc: Exception) -> str:
    trace = "".join(traceback_module.format_exception(exc))
    with runtime.db.transaction() as session:
        job = session.get(Job, job_id)
        if job is None or job.status != JobStatus.running or job.attempts != attempt:
            return "superseded"
        record_failure(session, job, error=f"{type(exc).__name__}: {exc}", traceback=trace)
        outcome = "dead" if job.status == JobStatus.dead else "retry"
    level = logging.ERROR if outcome == "dead" else logging.WARNING
    log.log(
        level,
        "job failed",
        exc_info=exc,
        extra={"job_id": job_id, "job": job.name, "attempt": attempt, "outcome": outcome},
    )
    return outcome


class LeaseKeeper:
    """Renews a running job's lease every third of its length, so only a dead worker's lease runs out."""

    def __init__(self, runtime: Runtime, job_id: str, attempt: int) -> None:
        self.runtime = runtime
        self.job_id = job_id
        self.attempt = attempt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id[:8]}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        lease = self.runtime.settings.job_lease_seconds
        while not self._stop.wait(lease / 3):
            try:
                with self.runtime.db.transaction() as session:
                    session.execute(
                        update(Job)
                        .where(
                            Job.id == self.job_id,
                            Job.status == JobStatus.running,
                            Job.attempts == self.attempt,
                        )
                        .values(locked_until=utcnow() + timedelta(seconds=lease))
                    )
            except SQLAlchemyError:
                log.warning("could not renew a job lease", exc_info=True, extra={"job_id": self.job_id})


RESEND_AFTER = timedelta(minutes=10)


def reap(runtime: Runtime, *, limit: int = 500) -> int:
    """Re-deliver jobs that are stuck: a worker died holding them, or their send to the queue was lost."""
    now = utcnow()
    with runtime.db.transaction() as session:
        expired = list(
            session.scalars(
                select(Job)
                .where(Job.status == JobStatus.running, Job.locked_until < now)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for job in expired:
            # A dead worker is not the job's fault: retry at once rather than after a backoff.
            record_failure(session, job, error="worker lost: lease expired", traceback=None, retry_delay=0)
        unsent = list(
            session.scalars(
                select(Job)
                .where(
                    Job.status == JobStatus.pending,
                    Job.run_after <= now,
                    or_(Job.sent_at.is_(None), Job.sent_at < now - RESEND_AFTER),
                )
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for job in unsent:
            job.sent_at = now
            send_after_commit(session, job.id, priority=job.priority)
    if expired or unsent:
        log.warning("reaper re-sent jobs", extra={"expired": len(expired), "unsent": len(unsent)})
    return len(expired) + len(unsent)
