"""What the demo shows of moderation: a report waiting in the moderators' queue and images waiting in the rating
game, with accounts old enough to play it (`catalog.demo.on_demo_loaded`, after the images domain's posts)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.demo import DemoSummary
from modelyard.core.db import utcnow
from modelyard.images import visibility
from modelyard.images.models import Image, Post
from modelyard.moderation import reports
from modelyard.moderation.game import queue_for_rating
from modelyard.moderation.models import ReportReason

ACCOUNT_AGE = timedelta(days=45)  # past the rating game's minimum age for players
GAME_IMAGES = 6
REPORTER = "mira"  # the images demo's gallery member
REPORTED_CREATOR = "northlight"


def add_to_demo(session: Session, summary: DemoSummary) -> int:
    """Age the demo's accounts, file one report and queue a few public images in the game; adds no images."""
    session.execute(
        update(User).where(User.id.in_(list(summary.users.values()))).values(created_at=utcnow() - ACCOUNT_AGE)
    )
    public = visibility.with_versions(
        select(Image.id, Image.user_id).join(Post, Post.id == Image.post_id).where(visibility.public_images())
    ).order_by(Image.id)
    images = session.execute(public).all()
    reporter = session.scalar(select(User).where(User.username == REPORTER))
    reported = next((image_id for image_id, owner in images if owner == summary.users.get(REPORTED_CREATOR)), None)
    if reporter is not None and reported is not None:
        reports.file_report(
            session,
            reporter,
            "image",
            reported,
            ReportReason.NSFW,
            "The glow reads as more than PG to me; could someone look at its rating?",
        )
    for image_id, _ in images[-GAME_IMAGES:]:
        queue_for_rating(session, image_id, reason="demo")
    session.flush()
    return 0
