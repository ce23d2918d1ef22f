"""The reward hook: called for each counted rating once it is judged, so a currency (a later domain) can pay
players for the work, more for answers that agreed.

    from modelyard.moderation.game import on_rating_counted
    on_rating_counted(lambda session, user_id, image_id, agreed: ...)   # from that domain's hooks.py
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

RatingCounted = Callable[[Session, int, int, bool], None]
_HOOKS: list[RatingCounted] = []


def on_rating_counted(hook: RatingCounted) -> RatingCounted:
    """Register `hook(session, user_id, image_id, agreed)`; it runs inside the transaction that judged the rating
    (a failure rolls the judgement back too). Registering the same hook twice keeps one."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


def forget_rating_hook(hook: RatingCounted) -> None:
    """For tests and plugins that unload."""
    if hook in _HOOKS:
        _HOOKS.remove(hook)


def rating_counted(session: Session, user_id: int, image_id: int, agreed: bool) -> None:
    for hook in list(_HOOKS):
        hook(session, user_id, image_id, agreed)
