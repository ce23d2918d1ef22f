"""Review queues: things a rule puts in front of moderators without anyone reporting them.

- newUser: a new account's first uploads (ingestion says `first_upload`);
- uncertain: images the classifier could not rate with confidence (also handed to the rating game);
- lookalike: uploads close to an image blocked before (ingestion blocked them; a moderator confirms or frees);
- appeal: an owner contests a block or a take-down (`moderation.appeals`);
- reported: the reports themselves, whose queue is their cases (`moderation.reports`), not review items.

One open item per queue and thing: a rule that fires twice for the same image finds the item it opened.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.core.db import utcnow
from modelyard.core.errors import NotFound
from modelyard.core.params import ID_MAX
from modelyard.moderation.models import ReviewItem, ReviewQueue, ReviewStatus
from modelyard.moderation.reports import count_open

OPEN_ITEM = (ReviewStatus.Pending, ReviewStatus.Processing)
# The tabs of the dashboard, in order; `reported` lists cases.
QUEUE_ORDER = (
    ReviewQueue.reported,
    ReviewQueue.newUser,
    ReviewQueue.uncertain,
    ReviewQueue.lookalike,
    ReviewQueue.appeal,
)
QUEUE_LABELS = {
    ReviewQueue.reported: "Reports",
    ReviewQueue.newUser: "New users",
    ReviewQueue.uncertain: "Uncertain",
    ReviewQueue.lookalike: "Look-alikes",
    ReviewQueue.appeal: "Appeals",
}


def open_review(
    session: Session, queue: ReviewQueue, entity_type: str, entity_id: int, *, detail: dict[str, Any] | None = None
) -> ReviewItem:
    """The thing's open item in `queue`, opened now if there is none (its `detail` then merged in)."""
    queue = ReviewQueue(queue)
    if queue == ReviewQueue.reported:
        raise ValueError("reports make cases: file them with moderation.reports")
    found = open_item_of(session, queue, entity_type, entity_id)
    if found is not None:
        if detail:
            found.detail = {**(found.detail or {}), **detail}
            session.flush()
        return found
    try:
        with session.begin_nested():
            item = ReviewItem(
                queue=queue,
                entity_type=entity_type,
                entity_id=entity_id,
                status=ReviewStatus.Pending,
                detail=detail,
                created_at=utcnow(),
            )
            session.add(item)
            session.flush()
        return item
    except IntegrityError:  # opened by someone else at the same moment
        found = open_item_of(session, queue, entity_type, entity_id)
        if found is None:
            raise
        return found


def open_item_of(session: Session, queue: ReviewQueue, entity_type: str, entity_id: int) -> ReviewItem | None:
    return session.scalar(
        select(ReviewItem).where(
            ReviewItem.queue == queue,
            ReviewItem.entity_type == entity_type,
            ReviewItem.entity_id == entity_id,
            ReviewItem.status.in_(OPEN_ITEM),
        )
    )


def get_item(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id) if 0 < item_id <= ID_MAX else None
    if item is None:
        raise NotFound(f"No review item with id {item_id}")
    return item


def list_items(
    session: Session,
    queue: ReviewQueue,
    *,
    entity_type: str | None = None,
    done: bool = False,
    after: int | None = None,
    limit: int = 50,
) -> list[ReviewItem]:
    """A queue's open items (or its closed ones, `done`), oldest first, by keyset on id."""
    statuses = (ReviewStatus.Done,) if done else OPEN_ITEM
    query = (
        select(ReviewItem)
        .where(ReviewItem.queue == queue, ReviewItem.status.in_(statuses))
        .order_by(ReviewItem.id)
        .limit(limit)
    )
    if entity_type:
        query = query.where(ReviewItem.entity_type == entity_type)
    if after is not None:
        query = query.where(ReviewItem.id > after)
    return list(session.scalars(query))


def queue_sizes(session: Session) -> dict[ReviewQueue, int]:
    """Open work per queue (the reported queue counts open cases)."""
    counted = session.execute(
        select(ReviewItem.queue, func.count()).where(ReviewItem.status.in_(OPEN_ITEM)).group_by(ReviewItem.queue)
    )
    sizes = dict.fromkeys(QUEUE_ORDER, 0)
    sizes.update({ReviewQueue(queue): count for queue, count in counted})
    sizes[ReviewQueue.reported] = count_open(session)
    return sizes


def close_item(session: Session, item: ReviewItem, actor_id: int | None, resolution: str) -> None:
    item.status = ReviewStatus.Done
    item.resolved_by_id = actor_id
    item.resolved_at = utcnow()
    item.resolution = resolution
    session.flush()
