"""What the moderation domain registers with the domains below it, imported at start (`core.bootstrap`): the
reportable types of the catalog, images and accounts, and the review queues that ingestion feeds."""

from __future__ import annotations

from sqlalchemy.orm import Session

from modelyard.catalog import demo as catalog_demo
from modelyard.images.events import IngestOutcome, on_image_ingested
from modelyard.images.models import Image
from modelyard.moderation import demo
from modelyard.moderation.models import ReviewQueue
from modelyard.moderation.queues import open_review
from modelyard.moderation.reportables import BUILT_IN, register_reportable

for entity_type, reportable in BUILT_IN.items():
    register_reportable(entity_type, reportable)
catalog_demo.on_demo_loaded(demo.add_to_demo)


@on_image_ingested
def review_ingested_image(session: Session, image: Image, outcome: IngestOutcome) -> None:
    """Put an image in front of people when ingestion says so: a new user's first upload, an uncertain rating
    (moderators, and the players of the rating game), a look-alike of a blocked image."""
    if outcome.first_upload:
        open_review(session, ReviewQueue.newUser, "image", image.id, detail={"user_id": image.user_id})
    if outcome.uncertain:
        open_review(session, ReviewQueue.uncertain, "image", image.id, detail={"score": image.nsfw_score})
        from modelyard.moderation.game import queue_for_rating

        queue_for_rating(session, image.id, reason="uncertain")
    if outcome.lookalike_of is not None:
        open_review(session, ReviewQueue.lookalike, "image", image.id, detail={"lookalike_of": outcome.lookalike_of})
