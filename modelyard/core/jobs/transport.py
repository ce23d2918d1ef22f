"""huey as the transport that carries job ids to consumers: SQLite file by default, Redis when scaled out.

huey drops a message once a consumer takes it, so it is never the record of a job: `Job` rows are, and the
reaper re-sends whatever huey lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from huey import PriorityRedisHuey, SqliteHuey, crontab
from huey.api import Huey, TaskWrapper

from modelyard.core.db import utcnow
from modelyard.core.jobs.registry import PERIODIC, parse_cron
from modelyard.core.settings import Settings, ensure_data_dir

log = logging.getLogger("modelyard.jobs")

RUN_JOB_TASK = "modelyard.run_job"


class JobQueue:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.huey = make_huey(settings)
        self._run_job = self._register_tasks()

    def send(self, job_id: str, *, priority: int, delay: float = 0) -> None:
        task = self._run_job.s(job_id, priority=priority, delay=delay if delay > 0 else None)
        self.huey.enqueue(task)

    def depth(self) -> int:
        """Messages waiting in the transport (ready now), for metrics."""
        return int(self.huey.pending_count())

    def scheduled(self) -> int:
        return int(self.huey.scheduled_count())

    def _register_tasks(self) -> TaskWrapper:
        # Transport-level retries cover infrastructure failures while claiming (database briefly down);
        # a job's own failures are retried by the runner with exponential backoff.
        @self.huey.task(name=RUN_JOB_TASK, retries=5, retry_delay=5)
        def run_job(job_id: str) -> None:
            from modelyard.core.jobs.runner import execute
            from modelyard.core.runtime import get_runtime

            execute(get_runtime(), job_id)

        for spec in PERIODIC.values():
            minute, hour, day, month, weekday = parse_cron(spec.cron)
            schedule = crontab(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday)
            self.huey.periodic_task(schedule, name=f"periodic.{spec.name}")(_periodic_trigger(spec.name))
        return run_job


def _periodic_trigger(name: str) -> Callable[[], None]:
    def trigger() -> None:
        from modelyard.core.jobs.service import enqueue
        from modelyard.core.runtime import get_runtime

        tick = utcnow().replace(second=0, microsecond=0)
        # Every consumer's scheduler fires each tick; the dedupe key lets exactly one job through.
        with get_runtime().db.transaction() as session:
            enqueue(session, name, dedupe_key=f"{name}@{tick:%Y-%m-%dT%H:%M}")

    trigger.__name__ = f"periodic_{name.replace('.', '_')}"
    return trigger


def make_huey(settings: Settings) -> Huey:
    name = f"{settings.redis_key_prefix}.jobs"
    if settings.redis_url:
        return PriorityRedisHuey(name, url=settings.redis_url, results=False, utc=True)
    ensure_data_dir(settings.data_dir)
    return SqliteHuey(name, filename=str(settings.data_dir / "jobs.sqlite3"), results=False, utc=True)
