"""Small factories for the rating game's tests: trusted players, pictures at a level, and a turn of play."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image as PILImage
from sqlalchemy import update

from modelyard.accounts.models import Role, User
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from modelyard.images.models import Image, Ingestion, Post
from modelyard.moderation.game import queue_for_rating
from modelyard.moderation.game.models import GamePlayer
from modelyard.moderation.game.players import require_player
from modelyard.moderation.game.queue import current_assignment
from modelyard.moderation.game.service import rate
from tests.support.factories import UserFixture, create_user

# Small numbers, so a handful of players reach a decision: three votes of weight 1, all agreeing.
QUICK = {"game_votes_needed": 3.0, "game_agreement_share": 0.7, "game_max_votes": 5, "game_check_share": 0.0}


def configure(monkeypatch: pytest.MonkeyPatch, runtime: Runtime, **changes: Any) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={**QUICK, **changes}))


def veteran(runtime: Runtime, *, role: Role = Role.user, days: int = 30) -> UserFixture:
    """A member old enough to play."""
    made = create_user(runtime, role=role)
    with runtime.db.transaction() as session:
        session.execute(update(User).where(User.id == made.id).values(created_at=utcnow() - timedelta(days=days)))
    return made


def webp(color: str = "red") -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (40, 30), color).save(out, format="WEBP")
    return out.getvalue()


def picture(runtime: Runtime, owner: UserFixture, *, level: int = 1, locked: bool = False, queued: bool = True) -> int:
    """A published, scanned picture of `owner` (in the game's queue unless `queued` is False)."""
    key = f"images/game/{uuid.uuid4().hex}.webp"
    runtime.storage.save(key, webp(), content_type="image/webp")
    with runtime.db.transaction() as session:
        post = Post(user_id=owner.id, published_at=utcnow(), nsfw_level=level)
        session.add(post)
        session.flush()
        image = Image(
            user_id=owner.id,
            post_id=post.id,
            storage_key=key,
            mime_type="image/webp",
            width=40,
            height=30,
            ingestion=Ingestion.Scanned,
            nsfw_level=level,
            nsfw_level_locked=locked,
        )
        session.add(image)
        session.flush()
        if queued:
            queue_for_rating(session, image.id, reason="uncertain")
        return image.id


@dataclass(frozen=True)
class Turn:
    image_id: int
    check: bool
    decided: bool
    rating_id: int


def play(runtime: Runtime, player: UserFixture, level: str) -> Turn:
    """Draw the player's image and answer it with `level`."""
    with runtime.db.transaction() as session:
        user = session.get(User, player.id)
        assert user is not None
        assignment = current_assignment(session, require_player(session, user))
        image_id, check = assignment.image.id, assignment.check
        rated = rate(session, user, assignment.ticket, level)
        return Turn(image_id, check, rated.decided, rated.rating_id)


def player_row(runtime: Runtime, user: UserFixture) -> GamePlayer:
    with runtime.db.session() as session:
        found = session.get(GamePlayer, user.id)
        assert found is not None
        session.expunge(found)
        return found
