"""A process killed with SIGKILL in the middle of a job loses nothing: the job runs again and its effect
lands exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.core.jobs import JobStatus, enqueue
from modelyard.core.runtime import Runtime
from tests.core.test_jobs import effects, job_row, wait_for
from tests.support.processes import kill_hard, start_modelyard, stop, wait_http
from tests.support.services import free_port

# Short leases so a dead process's job is noticed in seconds.
CRASH_ENV = {"MODELYARD_JOB_LEASE_SECONDS": "2", "MODELYARD_JOB_REAPER_INTERVAL_SECONDS": "0.5"}


@pytest.fixture
def processes() -> Iterator[list]:  # type: ignore[type-arg]
    started: list = []  # type: ignore[type-arg]
    yield started
    for process in started:
        stop(process)


def _enqueue_slow_job(runtime: Runtime, token: str, marker_dir: Path) -> str:
    with runtime.db.transaction() as session:
        # Sleeps after writing its row: a kill now must roll that row back.
        return enqueue(session, "tests.record_effect", token=token, sleep=60, marker_dir=str(marker_dir)).id


@pytest.mark.timeout(90)
def test_worker_killed_mid_job_reruns_it_once(
    runtime: Runtime,
    tmp_path: Path,
    processes: list,  # type: ignore[type-arg]
) -> None:
    markers = tmp_path / "markers"
    job_id = _enqueue_slow_job(runtime, "killed-worker", markers)
    first = start_modelyard(["worker", "--threads", "1"], tmp_path / "worker1.log", **CRASH_ENV)
    processes.append(first)
    wait_for(lambda: (markers / "call-1").exists(), timeout=30)
    kill_hard(first)
    assert job_row(runtime, job_id).status == JobStatus.running
    assert effects(runtime, "killed-worker") == 0

    _make_rerun_fast(runtime, job_id)
    second = start_modelyard(["worker", "--threads", "1"], tmp_path / "worker2.log", **CRASH_ENV)
    processes.append(second)
    wait_for(lambda: job_row(runtime, job_id).status == JobStatus.succeeded, timeout=45)
    job = job_row(runtime, job_id)
    assert job.attempts == 2
    assert effects(runtime, "killed-worker") == 1


@pytest.mark.timeout(120)
def test_serve_killed_mid_job_reruns_it_once_after_restart(
    runtime: Runtime,
    tmp_path: Path,
    processes: list,  # type: ignore[type-arg]
) -> None:
    port = free_port()
    env = {**CRASH_ENV, "MODELYARD_JOBS_IN_PROCESS": "true", "MODELYARD_JOB_THREADS": "1"}
    markers = tmp_path / "markers"
    job_id = _enqueue_slow_job(runtime, "killed-serve", markers)
    first = start_modelyard(["serve", "--port", str(port)], tmp_path / "serve1.log", **env)
    processes.append(first)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    wait_for(lambda: (markers / "call-1").exists(), timeout=30)
    kill_hard(first)
    assert effects(runtime, "killed-serve") == 0

    _make_rerun_fast(runtime, job_id)
    second = start_modelyard(["serve", "--port", str(port)], tmp_path / "serve2.log", **env)
    processes.append(second)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    wait_for(lambda: job_row(runtime, job_id).status == JobStatus.succeeded, timeout=45)
    assert job_row(runtime, job_id).attempts == 2
    assert effects(runtime, "killed-serve") == 1


def _make_rerun_fast(runtime: Runtime, job_id: str) -> None:
    """The rerun must not sleep a minute: change the job's arguments while it is orphaned."""
    from modelyard.core.jobs import Job

    with runtime.db.transaction() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.payload = {**job.payload, "sleep": 0}
