"""Declaring jobs: `@job("domain.verb")` and `@periodic("domain.verb", cron="*/5 * * * *")` next to the domain."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from modelyard.core.jobs.models import Job

JobFunc = Callable[..., None]


class Priority(enum.IntEnum):
    """Higher runs first."""

    LOW = 0
    NORMAL = 50
    HIGH = 100


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: JobFunc
    priority: int
    max_attempts: int | None


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    cron: str


REGISTRY: dict[str, JobSpec] = {}
PERIODIC: dict[str, PeriodicSpec] = {}


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
        from modelyard.core.jobs.service import enqueue

        return enqueue(session, self.spec.name, delay=delay, dedupe_key=dedupe_key, **kwargs)


def _register(spec: JobSpec) -> None:
    existing = REGISTRY.get(spec.name)
    if existing is not None and existing.func.__qualname__ != spec.func.__qualname__:
        raise ValueError(f"two jobs are named {spec.name!r}")
    REGISTRY[spec.name] = spec


def job(
    name: str, *, priority: int = Priority.NORMAL, max_attempts: int | None = None
) -> Callable[[JobFunc], JobHandle]:
    """Declare a job. The function takes the job's session first and keyword arguments (JSON values) after;
    the runner commits that session when the function returns, together with the job's completion."""

    def decorate(func: JobFunc) -> JobHandle:
        spec = JobSpec(name=name, func=func, priority=int(priority), max_attempts=max_attempts)
        _register(spec)
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
        PERIODIC[name] = PeriodicSpec(name=name, cron=cron)
        return handle

    return decorate


def parse_cron(cron: str) -> tuple[str, str, str, str, str]:
    parts = cron.split()
    if len(parts) != 5:
        raise ValueError(f"cron {cron!r} must have five fields: minute hour day month weekday")
    return parts[0], parts[1], parts[2], parts[3], parts[4]
