"""Declaring jobs: `@job("domain.verb")` and `@periodic("domain.verb", cron="*/5 * * * *")` in a domain's
`tasks.py`. Logic enqueues them by name (`enqueue(session, "domain.verb", ...)`), so it never imports the tasks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from modelyard.core.jobs.models import Job
from modelyard.core.jobs.registry import (
    JobFunc,
    JobSpec,
    PeriodicSpec,
    Priority,
    parse_cron,
    register,
    register_periodic,
)
from modelyard.core.jobs.service import enqueue


class JobHandle:
    """What `@job` returns: call it directly (tests, inline use) or `.enqueue(session, **kwargs)` it."""

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self.__doc__ = spec.func.__doc__

    def __call__(self, session: Session, **kwargs: Any) -> None:
        self.spec.func(session, **kwargs)

    def enqueue(
        self,
        session: Session,
        *,
        delay: timedelta | float | None = None,
        dedupe_key: str | None = None,
        **kwargs: Any,
    ) -> Job:
        return enqueue(session, self.spec.name, delay=delay, dedupe_key=dedupe_key, **kwargs)


def job(
    name: str, *, priority: int = Priority.NORMAL, max_attempts: int | None = None
) -> Callable[[JobFunc], JobHandle]:
    """Declare a job. The function takes the job's session first and keyword arguments (JSON values) after;
    the runner commits that session when the function returns, together with the job's completion."""

    def decorate(func: JobFunc) -> JobHandle:
        spec = JobSpec(name=name, func=func, priority=int(priority), max_attempts=max_attempts)
        register(spec)
        return JobHandle(spec)

    return decorate


def periodic(
    name: str, *, cron: str, priority: int = Priority.NORMAL, max_attempts: int | None = 1
) -> Callable[[JobFunc], JobHandle]:
    """Declare a job that runs on a schedule (`minute hour day month weekday`, UTC). Each tick runs once across
    all processes."""
    parse_cron(cron)

    def decorate(func: JobFunc) -> JobHandle:
        handle = job(name, priority=priority, max_attempts=max_attempts)(func)
        register_periodic(PeriodicSpec(name=name, cron=cron))
        return handle

    return decorate
