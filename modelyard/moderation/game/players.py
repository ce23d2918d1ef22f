"""Who may play, each player's standing, the bench and the leaderboard.

Trusted members play: an account old enough (a setting), with a verified e-mail address, not muted, banned or
under an active strike. Moderators always may. A player whose answers on hidden check images are too often wrong
is benched: their votes stop counting and they are shown only checks, until their accuracy is back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.core.db import utcnow
from modelyard.core.errors import Forbidden
from modelyard.core.runtime import get_runtime
from modelyard.moderation import strikes
from modelyard.moderation.game.models import GamePlayer
from modelyard.moderation.game.ranks import (
    CHECK_STANDING_FACTOR,
    EXP_CORRECT,
    EXP_FAILED,
    STANDING_CORRECT,
    STANDING_FAILED,
    next_rank,
    rank_for,
    vote_weight,
)


def refusal(session: Session, user: User | None, *, now: datetime | None = None) -> str | None:
    """Why `user` may not play, or None when they may."""
    if user is None:
        return "Log in to play"
    if user.is_banned:
        return "This account is banned"
    if policy.is_moderator(user):
        return None
    if user.is_muted:
        return "Muted members do not play the rating game"
    if user.email_verified_at is None:
        return "Verify your e-mail address to play the rating game"
    days = get_runtime().settings.game_min_account_days
    if user.created_at > (now or utcnow()) - timedelta(days=days):
        return f"The rating game opens to accounts older than {days} days"
    if has_active_strike(session, user):
        return "Members with an active strike do not play the rating game"
    return None


def may_play(session: Session, user: User | None) -> bool:
    return refusal(session, user) is None


def has_active_strike(session: Session, user: User) -> bool:
    """Whether a strike holds against `user` now (not expired, not voided)."""
    return strikes.active_points(session, user.id) > 0


def require_player(session: Session, user: User | None) -> GamePlayer:
    """The player row of a member who may play (made on their first game), or Forbidden saying why not."""
    reason = refusal(session, user)
    if reason is not None or user is None:
        raise Forbidden(reason or "Log in to play")
    player = session.get(GamePlayer, user.id)
    if player is None:
        player = GamePlayer(user_id=user.id, exp=0, standing=0, correct=0, failed=0, checks=0, checks_correct=0)
        session.add(player)
        session.flush()
    return player


def is_benched(player: GamePlayer) -> bool:
    return player.benched_at is not None


def weight_of(player: GamePlayer) -> float:
    return vote_weight(player.exp, benched=is_benched(player))


def check_accuracy(player: GamePlayer) -> float | None:
    return player.checks_correct / player.checks if player.checks else None


def judge(player: GamePlayer, *, agreed: bool, check: bool) -> None:
    """Experience and standing for one judged answer; a check moves standing more and may bench or unbench."""
    factor = CHECK_STANDING_FACTOR if check else 1
    if agreed:
        player.exp += EXP_CORRECT
        player.standing += STANDING_CORRECT * factor
        player.correct += 1
    else:
        player.exp = max(0, player.exp + EXP_FAILED)
        player.standing += STANDING_FAILED * factor
        player.failed += 1
    if check:
        player.checks += 1
        player.checks_correct += int(agreed)
        _update_bench(player)


def _update_bench(player: GamePlayer) -> None:
    settings = get_runtime().settings
    accuracy = check_accuracy(player)
    if accuracy is None or player.checks < settings.game_bench_min_checks:
        return
    if accuracy < settings.game_bench_accuracy:
        if player.benched_at is None:
            player.benched_at = utcnow()
    else:
        player.benched_at = None


@dataclass(frozen=True)
class Standing:
    """What the game page and `/api/game/next` show a player about themselves."""

    rank: str
    exp: int
    next_rank: str | None
    next_rank_exp: int | None
    standing: int
    correct: int
    failed: int
    accuracy: float | None  # on judged answers, checks included
    weight: float
    benched: bool


def standing_of(player: GamePlayer) -> Standing:
    judged = player.correct + player.failed
    upcoming = next_rank(player.exp)
    return Standing(
        rank=rank_for(player.exp).name,
        exp=player.exp,
        next_rank=upcoming.name if upcoming else None,
        next_rank_exp=upcoming.min_exp if upcoming else None,
        standing=player.standing,
        correct=player.correct,
        failed=player.failed,
        accuracy=round(player.correct / judged, 3) if judged else None,
        weight=weight_of(player),
        benched=is_benched(player),
    )


@dataclass(frozen=True)
class Leader:
    username: str
    rank: str
    exp: int
    standing: int


def leaderboard(session: Session, *, limit: int = 10) -> list[Leader]:
    """The best players by experience, then standing; benched and banned players are left out."""
    rows = session.execute(
        select(User.username, GamePlayer.exp, GamePlayer.standing)
        .join(User, User.id == GamePlayer.user_id)
        .where(GamePlayer.benched_at.is_(None), User.banned_at.is_(None), GamePlayer.exp > 0)
        .order_by(GamePlayer.exp.desc(), GamePlayer.standing.desc(), GamePlayer.user_id)
        .limit(limit)
    ).all()
    return [Leader(name, rank_for(exp).name, exp, standing) for name, exp, standing in rows]
