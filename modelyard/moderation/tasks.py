"""The moderation domain's jobs, declared in one place and enqueued by name."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from modelyard.core.jobs import Priority, periodic
from modelyard.moderation import strikes

# The rating game is a package of its own: its jobs (and through them its tables) load with the domain's, at start.
from modelyard.moderation.game import models as game_models  # noqa: F401
from modelyard.moderation.game import tasks as game_tasks  # noqa: F401

log = logging.getLogger("modelyard.moderation")


@periodic("moderation.expire_strikes", cron="7 * * * *", priority=Priority.LOW)
def expire_strikes(session: Session) -> None:
    """Lift the restrictions of users whose strikes expired (points are counted at read; this clears the pause
    and the automatic mute they left)."""
    changed = strikes.expire(session)
    if changed:
        log.info("restrictions lifted as strikes expired", extra={"users": changed})
