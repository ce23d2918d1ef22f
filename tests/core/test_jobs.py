from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from modelyard.accounts.models import User
from modelyard.accounts.service import create_user
from modelyard.core.db import utcnow
from modelyard.core.http import SessionDep
from modelyard.core.jobs import DeadLetter, Job, JobStatus, enqueue, requeue
from modelyard.core.jobs.consumer import JobWorker
from modelyard.core.jobs.runner import execute, reap
from modelyard.core.jobs.service import backoff_seconds
from modelyard.core.jobs.transport import _periodic_trigger
from modelyard.core.runtime import Runtime
from tests.support.jobs_fixture import effect


def effects(runtime: Runtime, token: str) -> int:
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(effect).where(effect.c.token == token)) or 0


def job_row(runtime: Runtime, job_id: str) -> Job:
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[JobWorker]:
    job_worker = JobWorker(runtime, threads=2)
    job_worker.start()
    yield job_worker
    job_worker.stop(graceful=True)


class TestEnqueue:
    def test_job_is_sent_only_after_commit(self, runtime: Runtime) -> None:
        with runtime.db.transaction() as session:
            enqueue(session, "tests.record_effect", token="a")
            assert runtime.queue.depth() == 0
        assert runtime.queue.depth() == 1

    def test_rollback_drops_the_job(self, runtime: Runtime) -> None:
        with pytest.raises(RuntimeError), runtime.db.transaction() as session:
            enqueue(session, "tests.record_effect", token="a")
            raise RuntimeError("the request failed")
        assert runtime.queue.depth() == 0
        with runtime.db.session() as session:
            assert session.scalar(select(func.count()).select_from(Job)) == 0

    def test_unknown_job_name_is_refused(self, runtime: Runtime) -> None:
        with runtime.db.session() as session, pytest.raises(ValueError, match="no job named"):
            enqueue(session, "tests.nope")

    def test_non_json_arguments_are_refused(self, runtime: Runtime) -> None:
        from modelyard.core.errors import ValidationFailed

        with runtime.db.session() as session, pytest.raises(ValidationFailed):
            enqueue(session, "tests.record_effect", token=object())

    def test_dedupe_key_records_one_job(self, runtime: Runtime) -> None:
        with runtime.db.transaction() as session:
            first = enqueue(session, "tests.record_effect", token="a", dedupe_key="k1")
        with runtime.db.transaction() as session:
            second = enqueue(session, "tests.record_effect", token="a", dedupe_key="k1")
        assert first.id == second.id
        assert runtime.queue.depth() == 1


class TestRequestBoundary:
    def test_request_that_raises_rolls_back_its_writes_and_jobs(self, runtime: Runtime) -> None:
        from modelyard.app import create_app

        app: FastAPI = create_app(runtime=runtime)
        router = APIRouter()

        @router.post("/api/test/boom")
        def boom(session: SessionDep) -> None:
            create_user(session, username="ghost", email="ghost@example.com", password=None)
            enqueue(session, "tests.record_effect", token="boom")
            raise RuntimeError("secret internals")

        app.include_router(router)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post("/api/test/boom")
        assert response.status_code == 500
        body = response.json()
        assert body["error"] == "internal_error"
        assert body["request_id"] == response.headers["x-request-id"]
        assert "secret internals" not in response.text
        with runtime.db.session() as session:
            assert session.scalar(select(func.count()).select_from(User)) == 0
            assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert runtime.queue.depth() == 0


class TestRunning:
    def test_worker_runs_job_and_commits_its_effect(self, runtime: Runtime, worker: JobWorker) -> None:
        with runtime.db.transaction() as session:
            job_id = enqueue(session, "tests.record_effect", token="ran").id
        wait_for(lambda: job_row(runtime, job_id).status == JobStatus.succeeded)
        assert effects(runtime, "ran") == 1
        assert job_row(runtime, job_id).attempts == 1

    def test_failing_job_is_retried_with_growing_delays(
        self, runtime: Runtime, worker: JobWorker, tmp_path: Path
    ) -> None:
        with runtime.db.transaction() as session:
            job_id = enqueue(session, "tests.record_effect", token="flaky", marker_dir=str(tmp_path), fail_times=2).id
        wait_for(lambda: job_row(runtime, job_id).status == JobStatus.succeeded, timeout=30)
        calls = [float((tmp_path / f"call-{n}").read_text()) for n in (1, 2, 3)]
        assert job_row(runtime, job_id).attempts == 3
        assert effects(runtime, "flaky") == 1
        base = runtime.settings.job_backoff_seconds
        # Each retry waited at least its backoff (base, then 2 x base), less the 20 % jitter.
        assert calls[1] - calls[0] >= 0.8 * base
        assert calls[2] - calls[1] >= 0.8 * 2 * base

    def test_backoff_doubles_and_is_capped(self, runtime: Runtime) -> None:
        base = runtime.settings.job_backoff_seconds
        for attempt in (1, 2, 3, 4):
            delay = backoff_seconds(attempt)
            assert 0.8 * base * 2 ** (attempt - 1) <= delay <= 1.2 * base * 2 ** (attempt - 1)
        assert backoff_seconds(60) <= runtime.settings.job_backoff_max_seconds * 1.2

    def test_duplicate_delivery_runs_the_job_once(self, runtime: Runtime) -> None:
        with runtime.db.transaction() as session:
            job_id = enqueue(session, "tests.record_effect", token="dup").id
        execute(runtime, job_id)
        execute(runtime, job_id)
        assert effects(runtime, "dup") == 1
        assert job_row(runtime, job_id).attempts == 1

    def test_a_job_holding_the_sqlite_write_lock_long_is_reported(
        self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Long work inside a job's transaction blocks every writer on SQLite: the runner names the job."""
        if runtime.db.dialect != "sqlite":
            pytest.skip("only SQLite has one write lock for the whole database")
        monkeypatch.setattr("modelyard.core.jobs.runner.LOCK_WARNING_SECONDS", 0.2)
        with runtime.db.transaction() as session:
            slow = enqueue(session, "tests.record_effect", token="slow", sleep=0.5).id  # writes, then sleeps
            quick = enqueue(session, "tests.record_effect", token="quick").id
        with caplog.at_level("WARNING", logger="modelyard.jobs"):
            execute(runtime, quick)
            assert not [r for r in caplog.records if "write lock" in r.getMessage()]
            execute(runtime, slow)
        held = [r for r in caplog.records if "write lock" in r.getMessage()]
        assert len(held) == 1 and held[0].job == "tests.record_effect" and held[0].held_ms >= 500  # type: ignore[attr-defined]
        assert effects(runtime, "slow") == 1  # reported, not refused

    def test_job_that_lost_its_lease_commits_nothing(self, runtime: Runtime) -> None:
        with runtime.db.transaction() as session:
            job_id = enqueue(session, "tests.loses_lease", job_token="fenced").id
        execute(runtime, job_id)
        assert effects(runtime, "fenced") == 0
        assert job_row(runtime, job_id).status == JobStatus.running  # left for the reaper


class TestDeadLetters:
    def test_exhausted_job_lands_in_dead_letters_and_requeue_runs_it(self, runtime: Runtime, tmp_path: Path) -> None:
        flag = tmp_path / "fail"
        flag.touch()
        with runtime.db.transaction() as session:
            job_id = enqueue(session, "tests.fails_while_flag", flag=str(flag), token="dl").id
        execute(runtime, job_id)
        self._make_due(runtime, job_id)
        execute(runtime, job_id)
        job = job_row(runtime, job_id)
        assert job.status == JobStatus.dead and job.attempts == 2
        with runtime.db.session() as session:
            letter = session.scalar(select(DeadLetter).where(DeadLetter.job_id == job_id))
        assert letter is not None and "flag file" in letter.error and letter.traceback

        flag.unlink()
        with runtime.db.transaction() as session:
            requeue(session, job_id)
        execute(runtime, job_id)
        assert job_row(runtime, job_id).status == JobStatus.succeeded
        assert effects(runtime, "dl") == 1
        with runtime.db.session() as session:
            assert session.scalar(select(func.count()).select_from(DeadLetter)) == 0

    def test_only_dead_jobs_can_be_requeued(self, runtime: Runtime) -> None:
        from modelyard.core.errors import Conflict

        with runtime.db.transaction() as session:
            job_id = enqueue(session, "tests.record_effect", token="x").id
        with runtime.db.transaction() as session, pytest.raises(Conflict, match="only dead jobs"):
            requeue(session, job_id)

    @staticmethod
    def _make_due(runtime: Runtime, job_id: str) -> None:
        with runtime.db.transaction() as session:
            job = session.get(Job, job_id)
            assert job is not None
            job.run_after = utcnow() - timedelta(seconds=1)


class TestReaper:
    def test_expired_lease_is_handed_back_and_rerun(self, runtime: Runtime) -> None:
        with runtime.db.transaction() as session:
            job = enqueue(session, "tests.record_effect", token="orphan")
            job.status = JobStatus.running
            job.attempts = 1
            job.locked_until = utcnow() - timedelta(seconds=1)
            job_id = job.id
        assert reap(runtime) == 1
        assert job_row(runtime, job_id).status == JobStatus.pending
        execute(runtime, job_id)
        assert job_row(runtime, job_id).status == JobStatus.succeeded
        assert job_row(runtime, job_id).attempts == 2

    def test_unsent_job_is_sent(self, runtime: Runtime) -> None:
        with runtime.db.transaction() as session:
            job = enqueue(session, "tests.record_effect", token="unsent")
        runtime.queue.huey.flush()  # the message was lost in transit
        with runtime.db.transaction() as session:
            session.get(Job, job.id).sent_at = None  # type: ignore[union-attr]
        assert reap(runtime) == 1
        assert runtime.queue.depth() == 1


class TestPeriodic:
    def test_each_tick_runs_once_however_many_schedulers_fire(self, runtime: Runtime) -> None:
        trigger = _periodic_trigger("jobs.prune_finished")
        trigger()
        trigger()
        with runtime.db.session() as session:
            names = session.scalars(select(Job.name)).all()
        assert names == ["jobs.prune_finished"]

    def test_prune_removes_old_succeeded_jobs_only(self, runtime: Runtime) -> None:
        old = utcnow() - timedelta(days=runtime.settings.job_retention_days + 1)
        with runtime.db.transaction() as session:
            done = enqueue(session, "tests.record_effect", token="old")
            done.status, done.finished_at = JobStatus.succeeded, old
            pending = enqueue(session, "tests.record_effect", token="new")
        with runtime.db.transaction() as session:
            from modelyard.core.jobs.tasks import prune_finished_jobs

            prune_finished_jobs(session)
        with runtime.db.session() as session:
            assert session.get(Job, done.id) is None
            assert session.get(Job, pending.id) is not None
