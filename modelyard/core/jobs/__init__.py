"""Background jobs: declare with `@job` / `@periodic`, enqueue inside a transaction, sent after commit.

@job("catalog.reindex_model", priority=Priority.LOW)
def reindex_model(session, *, model_id: int) -> None: ...

reindex_model.enqueue(session, model_id=7)   # dropped if the transaction rolls back
"""

from modelyard.core.jobs.declare import JobHandle, job, periodic
from modelyard.core.jobs.models import DeadLetter, Job, JobStatus
from modelyard.core.jobs.registry import REGISTRY, Priority
from modelyard.core.jobs.service import count_by_status, enqueue, list_dead_letters, requeue

__all__ = [
    "REGISTRY",
    "DeadLetter",
    "Job",
    "JobHandle",
    "JobStatus",
    "Priority",
    "count_by_status",
    "enqueue",
    "job",
    "list_dead_letters",
    "periodic",
    "requeue",
]
