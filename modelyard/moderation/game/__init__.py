"""The rating game (Civitai's "New Order"): trusted players rate queued images' levels; their consensus sets and
locks the level; hidden check images of known level keep them honest; rank raises a player's weight.

What other parts call:

    queue_for_rating(session, image_id, reason="uncertain")   # put an image in the game's queue
    withdraw(session, image_id)                                # a moderator settled it: out of the game
    on_rating_counted(hook)                                    # hook(session, user_id, image_id, agreed)
"""

from __future__ import annotations

from modelyard.moderation.game.queue import queue_for_rating
from modelyard.moderation.game.rewards import on_rating_counted
from modelyard.moderation.game.service import withdraw

__all__ = ["on_rating_counted", "queue_for_rating", "withdraw"]
