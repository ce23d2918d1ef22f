"""What other domains learn when an image finishes ingestion.

The moderation domain sits above images, so it registers here (from its own `hooks.py`) instead of being called:
each hook runs at the end of ingestion, inside the job's transaction, with what a moderator would want to know
about the upload (`IngestOutcome`). A hook that raises fails the job, which is then retried like any other step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from modelyard.images.models import Image


@dataclass(frozen=True)
class IngestOutcome:
    """What ingestion found: `uncertain`, the classifier's score sits in the band people review; `lookalike_of`,
    the blocked image this one's perceptual hash is close to (it is then Blocked); `first_upload`, this is the
    owner's first image (new users' uploads are reviewed)."""

    uncertain: bool
    lookalike_of: int | None
    first_upload: bool


IngestedHook = Callable[[Session, Image, IngestOutcome], None]
_hooks: list[IngestedHook] = []


def on_image_ingested(hook: IngestedHook) -> IngestedHook:
    """Register `hook` (usable as a decorator); registering the same function twice keeps one."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def image_ingested(session: Session, image: Image, outcome: IngestOutcome) -> None:
    for hook in list(_hooks):
        hook(session, image, outcome)
