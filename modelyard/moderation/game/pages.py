"""`/game`: the rating game's page. One image at a time, large and blurred until revealed, with a button per level
(keyboard shortcuts 1 to 6, `game.js`); every answer is a plain form, so the game works without JavaScript. The
player's rank, experience and accuracy, and a small leaderboard, beside it.

The picture comes from `/game/picture/{ticket}`: only the player it was drawn for may fetch it, and only while it
is theirs to rate.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.core.errors import AppError, NotFound
from modelyard.core.http import RuntimeDep, SessionDep
from modelyard.core.params import id_or_none
from modelyard.core.storage.routes import object_response
from modelyard.moderation.game import players, queue, ranks, service
from modelyard.moderation.game.models import GamePlayer
from modelyard.moderation.game.routes import drawing
from modelyard.web.toolkit import PageModerator, back_to, login_required, page, register_flash, see_other

router = APIRouter(include_in_schema=False)
TEMPLATE = "moderation/game.html"
PICTURE_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
register_flash(
    {
        "game-rated": "Your rating is in. Here is the next image.",
        "game-decided": "Your rating completed a consensus: the image's level is set.",
        "game-queued": "The image is in the rating game's queue.",
    }
)
Player = Annotated[User, Depends(login_required(TokenScope.MediaWrite, after_post="/game"))]


def _context(session: Session, user: User) -> dict[str, Any]:
    """Everything the page shows; a member who may not play gets the reason instead of an image."""
    reason = players.refusal(session, user)
    if reason is not None:
        return {"refusal": reason, "assignment": None, "standing": None, "leaders": [], "levels": ranks.LEVELS}
    player = players.require_player(session, user)
    try:
        assignment: queue.Assignment | None = queue.current_assignment(session, player)
    except NotFound:
        assignment = None
    return {
        "refusal": None,
        "assignment": assignment,
        "standing": players.standing_of(player),
        "leaders": players.leaderboard(session),
        "levels": ranks.LEVELS,
    }


def _render(request: Request, context: dict[str, Any], *, error: AppError | None = None) -> HTMLResponse:
    status = 403 if context["refusal"] else 200
    if error is not None:
        context |= {"flash": None, "error": error.detail}
        status = error.status_code
    return page(request, TEMPLATE, context, status_code=status)


@router.get("/game", response_class=HTMLResponse)
def game_page(request: Request, user: Player, runtime: RuntimeDep) -> Response:
    return _render(request, drawing(runtime, lambda session: _context(session, user)))


@router.post("/game/ratings", response_class=HTMLResponse)
def rate_from_page(
    request: Request,
    user: Player,
    session: SessionDep,
    ticket: Annotated[str, Form(max_length=64)] = "",
    level: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """One answer, as a form (the buttons are its submit buttons, named `level`)."""
    try:
        rated = service.rate(session, user, ticket, level)
    except AppError as exc:
        session.rollback()  # the page again as things are, in this request's own (writing) session
        return _render(request, _context(session, user), error=exc)
    return see_other("/game", done="game-decided" if rated.decided else "game-rated")


@router.get("/game/picture/{ticket}")
def picture(ticket: str, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep) -> Response:
    """The picture behind a ticket, to the player it was drawn for; 404 for anyone else, or once answered."""
    user = principal.user
    player = session.get(GamePlayer, user.id) if user is not None else None
    if player is None or player.ticket is None or not secrets.compare_digest(ticket.encode(), player.ticket.encode()):
        raise NotFound("No such picture")
    image = session.get(service.Image, player.assigned_image_id) if player.assigned_image_id else None
    if image is None:
        raise NotFound("No such picture")
    # An animated image is rated on its still poster, as the classifier rated it.
    key = image.poster_key if image.animated and image.poster_key else image.storage_key
    media_type = "image/webp" if key != image.storage_key else image.mime_type
    return object_response(runtime.storage, key, headers=PICTURE_HEADERS, media_type=media_type)


@router.post("/game/queue", response_class=HTMLResponse)
def queue_from_page(
    moderator: PageModerator,
    session: SessionDep,
    image_id: Annotated[str, Form(max_length=20)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Moderators: the "send to the rating game" button (`moderation/game_queue_button.html`)."""
    found = id_or_none(image_id)
    if found is None:
        raise NotFound("No such image")
    queue.queue_for_rating(session, found, reason="moderator")
    return see_other(back_to(back, "/game"), done="game-queued")
