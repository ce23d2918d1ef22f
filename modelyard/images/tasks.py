"""Every images job, declared in one place; services enqueue them by name (`enqueue(session,
"images.forget_object", storage_key=...)`), so no logic module imports this one."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from modelyard.core.jobs import Priority, job, periodic
from modelyard.images import upkeep

log = logging.getLogger("modelyard.images")


@periodic("images.fill_blurhashes", cron="* * * * *", priority=Priority.LOW)
def fill_blurhashes(session: Session) -> None:
    """Images stored before BlurHashes were computed at ingestion get theirs, a batch a minute (finds nothing,
    through a partial index, once the backlog is done)."""
    filled = upkeep.fill_missing_blurhashes(session)
    if filled:
        log.info("blurhashes computed", extra={"count": filled})


@job("images.forget_object", priority=Priority.LOW)
def forget_object(session: Session, *, storage_key: str) -> None:
    """The bytes of a removed picture, once no image uses them."""
    upkeep.forget_object(session, storage_key)
