"""Ratings, consensus and judgement.

A player answers the image behind their ticket. On a queued image the answer weighs what their rank says (nothing
while benched); once enough weight agrees on one level (`game_votes_needed`, and `game_agreement_share` of all
the weight counted), the level is set and locked (`images.moderate`), or the image blocked when the players agree
it breaks the rules, and every counted answer is judged Correct or Failed. An image that gathers
`game_max_votes` answers without agreement goes to a moderator, its answers Inconclusive. A check image judges
its answer at once against the level a moderator locked. Each counted, judged answer calls the reward hook.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict, Forbidden, ValidationFailed
from modelyard.core.runtime import get_runtime
from modelyard.images import moderate
from modelyard.images.models import BlockedFor, Image
from modelyard.moderation import journal
from modelyard.moderation.game.models import GamePlayer, GameQueueItem, GameRating, QueueStatus, RatingOutcome
from modelyard.moderation.game.players import is_benched, judge, require_player, weight_of
from modelyard.moderation.game.queue import open_items_to_close
from modelyard.moderation.game.ranks import LEVEL_BY_NAME, NAME_BY_LEVEL
from modelyard.moderation.game.rewards import rating_counted
from modelyard.moderation.models import ReviewQueue
from modelyard.moderation.queues import open_review

BLOCKED = 32
STALE_TICKET = "This image is no longer yours to rate: load the next one"


def parse_level(name: str) -> int:
    """A level as a player names it (`PG`, `PG13` or `PG-13`, `R`, `X`, `XXX`, `Blocked`), or its bit."""
    key = name.strip().lower()
    if key in LEVEL_BY_NAME:
        return LEVEL_BY_NAME[key]
    if key.isdigit() and len(key) <= 2 and int(key) in NAME_BY_LEVEL:
        return int(key)
    raise ValidationFailed("The level is one of PG, PG13, R, X, XXX or Blocked", field="level")


@dataclass(frozen=True)
class Rated:
    """What answering did: the rating kept, and whether it decided its image."""

    rating_id: int
    decided: bool


def rate(session: Session, user: User, ticket: str, level_name: str) -> Rated:
    """Answer the image behind `ticket` (the player's current one) with a level."""
    player = require_player(session, user)
    level = parse_level(level_name)
    if player.ticket is None or not secrets.compare_digest(ticket.encode(), player.ticket.encode()):
        raise Conflict(STALE_TICKET)
    image = session.get(Image, player.assigned_image_id) if player.assigned_image_id else None
    if image is None:
        raise Conflict(STALE_TICKET)
    if image.user_id == user.id:  # never drawn; refused all the same
        raise Forbidden("Players do not rate their own images")
    check = player.assigned_check
    player.ticket, player.assigned_image_id, player.assigned_check, player.assigned_at = None, None, False, None
    player.last_rated_at = utcnow()
    if check:
        rating = _record(session, player, image, level, weight=0.0, check=True, round_=0)
        _judge_check(session, player, rating, image)
        return Rated(rating.id, decided=False)
    item = session.get(GameQueueItem, image.id, with_for_update=True)
    if item is None or item.status != QueueStatus.open:
        raise Conflict(STALE_TICKET)
    weight = weight_of(player)
    rating = _record(session, player, image, level, weight=weight, check=False, round_=item.round)
    if weight > 0:
        item.votes += 1
        item.weight += weight
        session.flush()
        return Rated(rating.id, decided=_try_consensus(session, item, image))
    return Rated(rating.id, decided=False)


def _record(
    session: Session, player: GamePlayer, image: Image, level: int, *, weight: float, check: bool, round_: int
) -> GameRating:
    rating = GameRating(
        user_id=player.user_id,
        image_id=image.id,
        round=round_,
        level=level,
        weight=weight,
        check=check,
        outcome=RatingOutcome.Pending,
    )
    session.flush()  # the player's changes stay outside the savepoint below
    session.add(rating)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # two answers on one ticket at once: the second finds the first
        raise Conflict("You rated this image already") from None
    return rating


def _judge_check(session: Session, player: GamePlayer, rating: GameRating, image: Image) -> None:
    if not image.nsfw_level_locked:  # a moderator unlocked it meanwhile: it proves nothing
        _settle(rating, RatingOutcome.Inconclusive)
        return
    benched_before = is_benched(player)
    agreed = rating.level == image.nsfw_level
    _settle(rating, RatingOutcome.Correct if agreed else RatingOutcome.Failed)
    judge(player, agreed=agreed, check=True)
    if not benched_before:  # a benched player's answers do not count, checks included
        rating_counted(session, player.user_id, image.id, agreed)
    session.flush()


def _settle(rating: GameRating, outcome: RatingOutcome) -> None:
    rating.outcome, rating.judged_at = outcome, utcnow()


def tally(session: Session, item: GameQueueItem) -> dict[int, float]:
    """Counted weight per level in the item's current round."""
    weights: dict[int, float] = defaultdict(float)
    rows = session.execute(
        select(GameRating.level, GameRating.weight).where(
            GameRating.image_id == item.image_id, GameRating.round == item.round, GameRating.weight > 0
        )
    )
    for level, weight in rows:
        weights[level] += weight
    return dict(weights)


def _try_consensus(session: Session, item: GameQueueItem, image: Image) -> bool:
    settings = get_runtime().settings
    weights = tally(session, item)
    total = sum(weights.values())
    level, agreeing = max(weights.items(), key=lambda pair: (pair[1], pair[0]))
    if agreeing >= settings.game_votes_needed and agreeing / total >= settings.game_agreement_share:
        _decide(session, item, image, level)
        return True
    if item.votes >= settings.game_max_votes:
        _give_up(session, item, weights)
    return False


def _decide(session: Session, item: GameQueueItem, image: Image, level: int) -> None:
    if level == BLOCKED:
        moderate.block(session, image, reason=BlockedFor.tos, actor=None, note="rating game")
    else:
        moderate.set_level(session, image, level, lock=True)
    item.status, item.decided_level, item.decided_at = QueueStatus.decided, level, utcnow()
    journal.record(
        session,
        None,
        "image",
        image.id,
        "game-block" if level == BLOCKED else "game-level",
        reason="rating game consensus",
        detail={"level": level, "votes": item.votes, "weight": item.weight, "round": item.round},
    )
    _judge_round(session, item, level)


def _judge_round(session: Session, item: GameQueueItem, level: int | None) -> None:
    """Judge every answer of the item's round against `level` (None: Inconclusive for all)."""
    ratings = session.scalars(
        select(GameRating).where(
            GameRating.image_id == item.image_id,
            GameRating.round == item.round,
            GameRating.outcome == RatingOutcome.Pending,
        )
    ).all()
    for rating in ratings:
        if level is None or rating.weight <= 0:
            _settle(rating, RatingOutcome.Inconclusive)
            continue
        agreed = rating.level == level
        _settle(rating, RatingOutcome.Correct if agreed else RatingOutcome.Failed)
        player = session.get(GamePlayer, rating.user_id)
        if player is not None:
            judge(player, agreed=agreed, check=False)
        rating_counted(session, rating.user_id, item.image_id, agreed)
    session.flush()


def _give_up(session: Session, item: GameQueueItem, weights: dict[int, float]) -> None:
    """No agreement after enough answers: a moderator decides; the answers prove nothing either way."""
    item.status, item.decided_at = QueueStatus.undecided, utcnow()
    _judge_round(session, item, None)
    detail = {"game": {str(level): weight for level, weight in sorted(weights.items())}, "votes": item.votes}
    open_review(session, ReviewQueue.uncertain, "image", item.image_id, detail=detail)


def withdraw(session: Session, image_id: int) -> None:
    """Take an image out of the game (a moderator decided it, or it was blocked): its open round closes; answers
    are judged against a level a moderator locked, else Inconclusive."""
    item = session.get(GameQueueItem, image_id, with_for_update=True)
    image = session.get(Image, image_id)
    if item is None or image is None or item.status != QueueStatus.open:
        return
    item.status, item.decided_at = QueueStatus.withdrawn, utcnow()
    settled = image.nsfw_level_locked and image.blocked_for is None and image.nsfw_level != item.locked_level
    _judge_round(session, item, image.nsfw_level if settled else None)


def sweep(session: Session) -> int:
    """Close the open items whose image was blocked or settled by a moderator while queued."""
    closing = open_items_to_close(session)
    for item, _ in closing:
        withdraw(session, item.image_id)
    return len(closing)
