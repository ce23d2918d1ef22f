"""JSON API of the rating game: the next image to rate, answering it, the player's standing, the leaderboard, and
the moderators' way to queue an image.

The image to rate is named only by an opaque ticket, and fetched from `/game/picture/{ticket}`: nothing in the
answer tells a check image from a queued one, nor lets a player look the image up elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from modelyard.accounts.auth import ModeratorUser, requires
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.core.errors import NotFound
from modelyard.core.http import RuntimeDep, SessionDep, model_response
from modelyard.core.params import BOUNDS
from modelyard.core.runtime import Runtime
from modelyard.moderation.game import players, queue, ranks, service
from modelyard.moderation.game.models import GamePlayer
from modelyard.moderation.game.queue import Assignment

router = APIRouter(tags=["rating game"])
GameReader = Annotated[User, Depends(requires(TokenScope.MediaRead))]
GameWriter = Annotated[User, Depends(requires(TokenScope.MediaWrite))]
T = TypeVar("T")


class PlayerOut(BaseModel):
    rank: str
    exp: int
    next_rank: str | None = Field(description="The rank reached at `next_rank_exp` experience")
    next_rank_exp: int | None
    standing: int
    correct: int
    failed: int
    accuracy: float | None = Field(description="Share of judged answers that agreed (None before any was judged)")
    weight: float = Field(description="What the player's vote weighs now (0 while benched)")
    benched: bool


class PictureOut(BaseModel):
    url: str = Field(description="Where to fetch the picture (only this player may, while it is theirs to rate)")
    width: int
    height: int
    blurhash: str | None


class NextOut(BaseModel):
    ticket: str | None = Field(description="Send it back with the answer; None when there is nothing to rate")
    image: PictureOut | None
    levels: list[str] = Field(description="The answers, in the order of the page's buttons (shortcuts 1 to 6)")
    player: PlayerOut


class RatingIn(BaseModel):
    ticket: str = Field(min_length=1, max_length=64)
    level: str = Field(min_length=1, max_length=16, description="PG, PG13, R, X, XXX or Blocked")


class RatingOut(BaseModel):
    rating_id: int
    decided: bool = Field(description="Whether this answer completed a consensus")
    player: PlayerOut


class LeaderOut(BaseModel):
    username: str
    rank: str
    exp: int
    standing: int


class QueueIn(BaseModel):
    image_id: Annotated[int, BOUNDS]
    reason: str = Field("moderator", min_length=1, max_length=40)


def drawing(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """Drawing an image writes (the ticket), even on a GET: in a transaction that takes the write lock from the
    start, so SQLite never has to upgrade a reader (which can fail under load)."""
    with runtime.db.transaction(write=True) as session:
        return work(session)


def player_out(player: GamePlayer) -> PlayerOut:
    return PlayerOut.model_validate(players.standing_of(player), from_attributes=True)


def picture_out(assignment: Assignment) -> PictureOut:
    image = assignment.image
    return PictureOut(
        url=f"/game/picture/{assignment.ticket}", width=image.width, height=image.height, blurhash=image.blurhash
    )


def next_out(session: Session, user: User) -> NextOut:
    player = players.require_player(session, user)
    try:
        assignment: Assignment | None = queue.current_assignment(session, player)
    except NotFound:
        assignment = None
    return NextOut(
        ticket=assignment.ticket if assignment else None,
        image=picture_out(assignment) if assignment else None,
        levels=[name for name, _, _ in ranks.LEVELS],
        player=player_out(player),
    )


@router.get("/api/game/next", response_model=NextOut)
def next_image(user: GameReader, runtime: RuntimeDep) -> Response:
    """The image to rate now, kept until you answer it (asking again gives the same one). Only members who may
    play (an account old enough, a verified address, no mute or strike; moderators always): 403 otherwise."""
    return model_response(drawing(runtime, lambda session: next_out(session, user)))


@router.post("/api/game/ratings", response_model=RatingOut, status_code=status.HTTP_201_CREATED)
def rate(body: RatingIn, user: GameWriter, session: SessionDep) -> Response:
    """Answer the image behind `ticket` with a level. 409 when the ticket is no longer yours (answered already,
    or the image left the game meanwhile): ask for the next one."""
    rated = service.rate(session, user, body.ticket, body.level)
    player = players.require_player(session, user)
    out = RatingOut(rating_id=rated.rating_id, decided=rated.decided, player=player_out(player))
    return model_response(out, status_code=status.HTTP_201_CREATED)


@router.get("/api/game/player", response_model=PlayerOut)
def my_standing(user: GameReader, runtime: RuntimeDep) -> Response:
    """Your rank, experience, standing and accuracy."""
    return model_response(drawing(runtime, lambda session: player_out(players.require_player(session, user))))


@router.get("/api/game/leaderboard", response_model=list[LeaderOut])
def leaderboard(_: GameReader, session: SessionDep) -> list[LeaderOut]:
    """The ten best players by experience."""
    return [LeaderOut.model_validate(leader, from_attributes=True) for leader in players.leaderboard(session)]


@router.post("/api/game/queue", status_code=status.HTTP_204_NO_CONTENT)
def queue_image(body: QueueIn, _: ModeratorUser, session: SessionDep) -> Response:
    """Moderators: put an image in the game's queue (again, after a decision: a new round). A blocked image is
    not queued."""
    queue.queue_for_rating(session, body.image_id, reason=body.reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
