from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from modelyard.core.db import utcnow
from modelyard.core.jobs.declare import periodic
from modelyard.core.jobs.registry import Priority
from modelyard.core.jobs.service import prune_finished
from modelyard.core.runtime import get_runtime


@periodic("jobs.prune_finished", cron="17 * * * *", priority=Priority.LOW)
def prune_finished_jobs(session: Session) -> None:
    """Keep the job table small: succeeded jobs go after `job_retention_days`."""
    days = get_runtime().settings.job_retention_days
    prune_finished(session, older_than=utcnow() - timedelta(days=days))
