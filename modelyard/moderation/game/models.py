"""The rating game's tables (Civitai's "New Order", reference civitai.md §7): players, the images queued for
rating, and every rating given.

A player's answers are judged when the image they rated is decided (Correct / Failed against the consensus, or
Inconclusive when none came), or at once on a hidden check image (an image whose level a moderator locked).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.core.db import Base, UTCDateTime, utcnow


def _enum(cls: type[enum.Enum], length: int = 16) -> Enum:
    return Enum(cls, native_enum=False, length=length, validate_strings=True)


class QueueStatus(enum.StrEnum):
    open = "open"  # waiting for votes
    decided = "decided"  # the players agreed: the level is set and locked (or the image blocked)
    undecided = "undecided"  # enough votes came with no agreement: a moderator decides
    withdrawn = "withdrawn"  # blocked, unlisted or settled by a moderator while queued


class RatingOutcome(enum.StrEnum):
    Pending = "Pending"  # the image is still being rated
    Correct = "Correct"  # agreed with the consensus (or the check's known level)
    Failed = "Failed"
    Inconclusive = "Inconclusive"  # no consensus came, or the vote did not count (a benched player)


class GamePlayer(Base):
    """A member who played, with their standing. Rank and vote weight follow from `exp` (`game.ranks`)."""

    __tablename__ = "game_player"
    __table_args__ = (Index("ix_game_player_exp", "exp"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    exp: Mapped[int] = mapped_column(Integer, default=0)
    # Rises with answers that agree (on checks more), falls with those that do not: the leaderboard's tie-break and
    # what a moderator reads first about a player.
    standing: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    checks_correct: Mapped[int] = mapped_column(Integer, default=0)
    # Set while the player's check accuracy is under the bench line: their votes weigh nothing.
    benched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The image the player is shown now, behind an opaque ticket: the page never names the image, so a check
    # image cannot be looked up elsewhere, and a vote can only be for what was shown.
    ticket: Mapped[str | None] = mapped_column(String(64))
    assigned_image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id", ondelete="SET NULL"))
    assigned_check: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GameQueueItem(Base):
    """An image in the game's queue (one row per image, kept after the decision as its record)."""

    __tablename__ = "game_queue_item"
    __table_args__ = (Index("ix_game_queue_item_status", "status", "votes", "image_id"),)

    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[QueueStatus] = mapped_column(_enum(QueueStatus), default=QueueStatus.open)
    reason: Mapped[str] = mapped_column(String(40))
    # Queued again after a decision: a new round, in which only its own ratings count.
    round: Mapped[int] = mapped_column(Integer, default=1)
    votes: Mapped[int] = mapped_column(Integer, default=0)  # counted ratings of this round
    weight: Mapped[float] = mapped_column(Float, default=0.0)  # their summed weight
    decided_level: Mapped[int | None] = mapped_column(Integer)
    # The image's level when it was queued already locked (a moderator asking the players again): a lock with any
    # other level came from a moderator deciding while the players voted, and ends the round.
    locked_level: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GameRating(Base):
    """One player's answer on one image: never two by the same player on the same image."""

    __tablename__ = "game_rating"
    __table_args__ = (
        UniqueConstraint("user_id", "image_id", name="uq_game_rating_user_image"),
        Index("ix_game_rating_image", "image_id", "round"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer, default=1)
    level: Mapped[int] = mapped_column(Integer)  # one bit of BrowsingLevel, Blocked (32) included
    weight: Mapped[float] = mapped_column(Float, default=0.0)  # 0: not counted (a benched player, or a check)
    check: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[RatingOutcome] = mapped_column(_enum(RatingOutcome), default=RatingOutcome.Pending)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    judged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
