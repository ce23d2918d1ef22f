"""The rating game's jobs, declared in one place (loaded at start through `moderation.tasks`)."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from modelyard.core.jobs import Priority, periodic
from modelyard.moderation.game import service

log = logging.getLogger("modelyard.moderation.game")


@periodic("moderation.game_sweep", cron="*/5 * * * *", priority=Priority.LOW)
def sweep_queue(session: Session) -> None:
    """Images blocked, or settled by a moderator, while the players voted leave the queue; their answers are
    judged against the moderator's level. (Players are never shown them meanwhile: the draw skips them.)"""
    closed = service.sweep(session)
    if closed:
        log.info("rating game items closed", extra={"count": closed})
