"""Jobs used by the job tests. Loaded through MODELYARD_EXTRA_MODULES, so worker processes have them too."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, update
from sqlalchemy.orm import Session

from modelyard.core.jobs import job
from modelyard.core.jobs.models import Job
from modelyard.core.runtime import get_runtime

# Not part of the platform's schema: the tests create it (see ensure_effect_table).
metadata = MetaData()
effect = Table(
    "test_job_effect",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(64), nullable=False),
)


def ensure_effect_table() -> None:
    metadata.create_all(get_runtime().db.engine)


def _count_call(marker_dir: str | None) -> int:
    if marker_dir is None:
        return 0
    directory = Path(marker_dir)
    directory.mkdir(parents=True, exist_ok=True)
    calls = len(list(directory.glob("call-*"))) + 1
    (directory / f"call-{calls}").write_text(f"{time.time():.6f}")
    return calls


@job("tests.record_effect")
def record_effect(
    session: Session, *, token: str, sleep: float = 0, marker_dir: str | None = None, fail_times: int = 0
) -> None:
    """Writes one row; may sleep (to be killed mid-run) or fail its first `fail_times` calls."""
    calls = _count_call(marker_dir)
    if calls and calls <= fail_times:
        raise RuntimeError(f"planned failure {calls} of {fail_times}")
    session.execute(insert(effect).values(token=token))
    session.flush()
    if sleep:
        time.sleep(sleep)


@job("tests.fails_while_flag", max_attempts=2)
def fails_while_flag(session: Session, *, flag: str, token: str) -> None:
    if Path(flag).exists():
        raise ValueError("the flag file is still there")
    session.execute(insert(effect).values(token=token))


@job("tests.loses_lease")
def loses_lease(session: Session, *, job_token: str) -> None:
    """Simulates another worker taking the job over mid-run (as after a long pause)."""
    with get_runtime().db.transaction() as other:
        other.execute(update(Job).where(Job.name == "tests.loses_lease").values(attempts=Job.attempts + 1))
    session.execute(insert(effect).values(token=job_token))
