"""What each person chose to see: a browsing level (a bit mask of the NSFW levels PG..XXX, never Blocked) and
whether pictures above PG-13 are blurred until clicked.

Anonymous visitors and new accounts see PG only. Turning on R, X or XXX for the first time takes a statement that
one is an adult (a checkbox, on the settings page or in the header's toggle); going back down, or moving between
adult levels once one is on, does not ask again. Every listing of images, posts and models intersects its content
with `browsing_level(viewer)` (`level & browsing_level != 0`, `core.nsfw`), so a level no one chose shows nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.core.errors import ValidationFailed
from modelyard.core.nsfw import ALL_LEVELS, PUBLIC, SFW, BrowsingLevel

ADULT_LEVELS = ALL_LEVELS & ~SFW  # R | X | XXX: what needs the adult statement
ADULT_REQUIRED = "Confirm that you are an adult to see R, X or XXX content"


@dataclass(frozen=True)
class LevelChoice:
    """One level as the settings page and the header's toggle offer it."""

    bit: int
    label: str
    hint: str

    @property
    def adult(self) -> bool:
        return bool(self.bit & ADULT_LEVELS)


CHOICES: tuple[LevelChoice, ...] = (
    LevelChoice(int(BrowsingLevel.PG), "PG", "Safe for work"),
    LevelChoice(int(BrowsingLevel.PG13), "PG-13", "Revealing clothing, light violence"),
    LevelChoice(int(BrowsingLevel.R), "R", "Adult themes, partial nudity"),
    LevelChoice(int(BrowsingLevel.X), "X", "Graphic nudity"),
    LevelChoice(int(BrowsingLevel.XXX), "XXX", "Sexual acts, extreme content"),
)


def clamp(level: int) -> int:
    """A mask a viewer may hold: only choosable bits (Blocked is never one), and PG when nothing is left."""
    return (level & ALL_LEVELS) or PUBLIC


def browsing_level(user: User | None) -> int:
    """The levels `user` sees: PG for anonymous visitors, else their chosen mask."""
    if user is None:
        return PUBLIC
    return clamp(user.browsing_level or PUBLIC)


def blurs_nsfw(user: User | None) -> bool:
    """Whether pictures above PG-13 are blurred until clicked (always, for anonymous visitors)."""
    return True if user is None else bool(user.blur_nsfw)


def should_blur(level: int, user: User | None) -> bool:
    """Whether a picture at `level` is shown blurred to `user`."""
    return level > BrowsingLevel.PG13 and blurs_nsfw(user)


def sees_adult(user: User | None) -> bool:
    return bool(browsing_level(user) & ADULT_LEVELS)


def set_preferences(
    session: Session, user: User, *, level: int, blur_nsfw: bool | None = None, adult_confirmed: bool = False
) -> None:
    """Save `user`'s browsing level (and blur preference when given). Turning adult levels on when none was on
    needs `adult_confirmed`; a mask with bits outside PG..XXX, or with none, is refused."""
    if level & ~ALL_LEVELS or not level & ALL_LEVELS:
        raise ValidationFailed("Choose at least one of PG, PG-13, R, X and XXX", field="levels")
    if level & ADULT_LEVELS and not sees_adult(user) and not adult_confirmed:
        raise ValidationFailed(ADULT_REQUIRED, field="adult")
    user.browsing_level = level
    if blur_nsfw is not None:
        user.blur_nsfw = blur_nsfw
    session.flush()


def level_labels(level: int) -> list[str]:
    """`["PG", "R"]`: the levels a mask holds, as people name them."""
    return [choice.label for choice in CHOICES if level & choice.bit]
