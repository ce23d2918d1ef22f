"""The game's queue, and which image a player is shown next.

Images come in through `queue_for_rating` (the moderation domain's uncertain images, a moderator's button). A
player is shown one image at a time, behind an opaque ticket: a queued image among those needing votes (the
closest to a decision first, at random among them, so players voting together rarely see the same one), or, for
a share of the turns, a hidden check (an image whose level a moderator locked). Never their own image, never one
they rated. An image blocked while queued, or whose level a moderator settled, leaves the queue (`sweep`).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from modelyard.core.db import utcnow
from modelyard.core.errors import NotFound, ValidationFailed
from modelyard.core.runtime import get_runtime
from modelyard.images.models import Image, Ingestion
from modelyard.moderation.game.models import GamePlayer, GameQueueItem, GameRating, QueueStatus
from modelyard.moderation.game.players import is_benched

_random = random.SystemRandom()  # who sees which image, and when a check comes, is not to be predicted
CANDIDATES = 20  # the next image is drawn from this many of those closest to a decision
RATED_LEVELS = (1, 2, 4, 8, 16)  # a check's known level is one of these (never Blocked, never unrated)
REASON_LENGTH = 40


def queue_for_rating(session: Session, image_id: int, *, reason: str) -> None:
    """Put an image in the game's queue. Idempotent while it is queued; an image decided before starts a new
    round (only the new round's votes count). A blocked image is not queued."""
    reason = reason.strip()
    if not reason or len(reason) > REASON_LENGTH or not reason.isprintable():
        raise ValidationFailed(f"A queue reason is 1 to {REASON_LENGTH} printable characters", field="reason")
    image = session.get(Image, image_id)
    if image is None:
        raise NotFound(f"No image with id {image_id}")
    if _is_blocked(image):
        return
    item = session.get(GameQueueItem, image_id, with_for_update=True)
    locked_level = image.nsfw_level if image.nsfw_level_locked else None
    if item is None:
        session.add(
            GameQueueItem(
                image_id=image_id,
                status=QueueStatus.open,
                reason=reason,
                round=1,
                votes=0,
                weight=0.0,
                locked_level=locked_level,
            )
        )
    elif item.status != QueueStatus.open:
        item.status, item.reason, item.round = QueueStatus.open, reason, item.round + 1
        item.votes, item.weight, item.decided_level, item.decided_at = 0, 0.0, None, None
        item.locked_level = locked_level
    session.flush()


def _is_blocked(image: Image) -> bool:
    return image.ingestion == Ingestion.Blocked or image.blocked_for is not None


def _rateable() -> ColumnElement[bool]:
    """An image a player can be shown: processed (its public copy exists) and not blocked."""
    return and_(Image.ingestion == Ingestion.Scanned, Image.blocked_for.is_(None))


def _settled_by_moderator() -> ColumnElement[bool]:
    """A queued image whose level a moderator locked while the players voted."""
    return and_(
        Image.nsfw_level_locked.is_(True),
        or_(GameQueueItem.locked_level.is_(None), Image.nsfw_level != GameQueueItem.locked_level),
    )


def _not_yet_rated_by(user_id: int) -> ColumnElement[bool]:
    rated = exists().where(GameRating.user_id == user_id, GameRating.image_id == Image.id)
    return and_(Image.user_id != user_id, ~rated)


@dataclass(frozen=True)
class Assignment:
    """The image a player is shown now, known to them only by its ticket."""

    ticket: str
    image: Image
    check: bool


def current_assignment(session: Session, player: GamePlayer) -> Assignment:
    """The player's current image (kept until they answer, so reloading the page draws no new one), or a new one
    drawn; NotFound when there is nothing for them to rate."""
    found = _still_valid(session, player)
    if found is not None:
        return found
    image, check = _draw(session, player)
    if image is None:
        player.ticket, player.assigned_image_id, player.assigned_check, player.assigned_at = None, None, False, None
        session.flush()
        raise NotFound("There is nothing to rate right now: come back later")
    player.ticket = secrets.token_urlsafe(24)
    player.assigned_image_id, player.assigned_check, player.assigned_at = image.id, check, utcnow()
    session.flush()
    return Assignment(player.ticket, image, check)


def _still_valid(session: Session, player: GamePlayer) -> Assignment | None:
    if player.ticket is None or player.assigned_image_id is None:
        return None
    # A benched player holding a queued image keeps it (their answer will weigh nothing); anyone else keeps it
    # while it still needs votes.
    query = select(Image).where(Image.id == player.assigned_image_id, _rateable(), _not_yet_rated_by(player.user_id))
    if player.assigned_check:
        query = query.where(Image.nsfw_level_locked.is_(True), Image.nsfw_level.in_(RATED_LEVELS))
    else:
        query = query.join(GameQueueItem, GameQueueItem.image_id == Image.id).where(
            GameQueueItem.status == QueueStatus.open, ~_settled_by_moderator()
        )
    image = session.scalars(query).first()
    return Assignment(player.ticket, image, player.assigned_check) if image is not None else None


def _draw(session: Session, player: GamePlayer) -> tuple[Image | None, bool]:
    """A check for a benched player, and for a share of everyone's turns; else a queued image. With the queue
    empty there is nothing to do: checks alone would be experience for nothing."""
    settings = get_runtime().settings
    benched = is_benched(player)
    if benched or _random.random() < settings.game_check_share:
        check = _draw_check(session, player.user_id)
        if check is not None or benched:
            return check, True
    return _draw_queued(session, player.user_id), False


def _draw_queued(session: Session, user_id: int) -> Image | None:
    ids = session.scalars(
        select(GameQueueItem.image_id)
        .join(Image, Image.id == GameQueueItem.image_id)
        .where(GameQueueItem.status == QueueStatus.open, _rateable(), ~_settled_by_moderator())
        .where(_not_yet_rated_by(user_id))
        .order_by(GameQueueItem.votes.desc(), GameQueueItem.image_id)
        .limit(CANDIDATES)
    ).all()
    return session.get(Image, _random.choice(ids)) if ids else None


def _draw_check(session: Session, user_id: int) -> Image | None:
    """A random check: the first eligible image at or after a random id (then before it), through the primary
    key, so the draw costs a short index walk however many images there are."""
    in_game = exists().where(
        GameQueueItem.image_id == Image.id, GameQueueItem.status.in_((QueueStatus.open, QueueStatus.decided))
    )
    eligible = and_(
        Image.nsfw_level_locked.is_(True),
        Image.nsfw_level.in_(RATED_LEVELS),
        _rateable(),
        _not_yet_rated_by(user_id),
        ~in_game,  # a level the players set is no ground truth for them
    )
    highest = session.scalar(select(Image.id).order_by(Image.id.desc()).limit(1))
    if highest is None:
        return None
    pivot = _random.randint(1, highest)
    after = session.scalars(select(Image).where(eligible, Image.id >= pivot).order_by(Image.id).limit(1)).first()
    if after is not None:
        return after
    return session.scalars(select(Image).where(eligible, Image.id < pivot).order_by(Image.id.desc()).limit(1)).first()


def open_items_to_close(session: Session, *, limit: int = 500) -> list[tuple[GameQueueItem, Image]]:
    """Open items whose image was blocked, or settled by a moderator, while queued (`sweep` closes them)."""
    rows = session.execute(
        select(GameQueueItem, Image)
        .join(Image, Image.id == GameQueueItem.image_id)
        .where(GameQueueItem.status == QueueStatus.open)
        .where(or_(Image.ingestion == Ingestion.Blocked, Image.blocked_for.is_not(None), _settled_by_moderator()))
        .order_by(GameQueueItem.image_id)
        .limit(limit)
    ).all()
    return [(item, image) for item, image in rows]


def queued_count(session: Session) -> int:
    return session.scalar(select(func.count()).where(GameQueueItem.status == QueueStatus.open)) or 0
