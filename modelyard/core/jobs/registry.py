"""What jobs exist: their names, functions, priorities and schedules, as `modelyard.core.jobs.declare` records them.

A table, and nothing else: the service that enqueues and the runner that executes read it, so it imports neither."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

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


def register(spec: JobSpec) -> None:
    """Add a job to the registry. Declaring the same function again (a module imported twice) is harmless;
    two different functions under one name are a mistake."""
    existing = REGISTRY.get(spec.name)
    if existing is not None and existing.func.__qualname__ != spec.func.__qualname__:
        raise ValueError(f"two jobs are named {spec.name!r}")
    REGISTRY[spec.name] = spec


def register_periodic(spec: PeriodicSpec) -> None:
    PERIODIC[spec.name] = spec


def parse_cron(cron: str) -> tuple[str, str, str, str, str]:
    parts = cron.split()
    if len(parts) != 5:
        raise ValueError(f"cron {cron!r} must have five fields: minute hour day month weekday")
    return parts[0], parts[1], parts[2], parts[3], parts[4]
