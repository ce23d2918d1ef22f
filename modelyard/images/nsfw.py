"""NSFW levels: Civitai's bit flags (reference civitai.md §3.4) and how requests and responses name them.

Content carries one level (images: the highest of their tags; a model flagged nsfw: every adult bit at once); a
viewer asks for a set of levels as a bit mask, and sees what shares a bit with it (`level & asked != 0`).
Level 0 is unrated and matches nothing. The public API's parameters (`browsingLevel`, `nsfw`) and fields
(`nsfwLevel`, `nsfw`) are translated here, so every endpoint and page reads the same rule. The flags themselves are
`core.nsfw`'s (the catalog's `level_of_model` and the accounts' browsing levels read them there).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

# The flags live in core, where accounts and the catalog read them too; re-exported here for the image callers.
from modelyard.core.nsfw import ALL_LEVELS, EVERY_LEVEL, NSFW_LEVELS, PUBLIC, SFW, BrowsingLevel

__all__ = ["ALL_LEVELS", "EVERY_LEVEL", "NSFW_LEVELS", "PUBLIC", "SFW", "BrowsingLevel"]

# `nsfw=None|Soft|Mature|X` on the image feed: Civitai's legacy level names, as masks.
LEGACY_LEVELS = {"none": PUBLIC, "soft": SFW, "mature": 7, "x": ALL_LEVELS}
# An image's level as the image feed names it (`nsfwLevel`): its highest bit.
LEVEL_NAMES = {0: "None", 1: "None", 2: "Soft", 4: "Mature", 8: "X", 16: "X", 32: "Blocked"}


def asked_level(browsing_level: int | None, nsfw: bool | None) -> int:
    """The levels a model or version request asks for: `browsingLevel` (a bit mask, 0 meaning PG) wins over
    `nsfw`; `nsfw=true` is every choosable level, and no `nsfw` means PG only."""
    if browsing_level is not None:
        return browsing_level or PUBLIC
    return ALL_LEVELS if nsfw else PUBLIC


def asked_image_level(browsing_level: int | None, nsfw_name: str | None, nsfw: bool | None) -> int:
    """The levels an image-feed request asks for: a non-zero `browsingLevel` wins; `nsfw=true` is NSFW *only*
    (Civitai's rule for images), a legacy name is its mask, and anything else PG."""
    if browsing_level:
        return browsing_level
    if nsfw_name is not None and nsfw_name.lower() in LEGACY_LEVELS:
        return LEGACY_LEVELS[nsfw_name.lower()]
    return NSFW_LEVELS if nsfw else PUBLIC


def level_name(level: int) -> str:
    """`nsfwLevel` of the image feed: the name of the highest bit set."""
    highest = max((bit for bit in LEVEL_NAMES if bit and level & bit), default=0)
    return LEVEL_NAMES[highest]


def is_nsfw(level: int) -> bool:
    """The image feed's `nsfw` boolean: an image's level (one bit) above PG-13."""
    return level > BrowsingLevel.PG13


def shown_at(level_column: ColumnElement[int] | Any, asked: Any) -> ColumnElement[bool]:
    """`level & asked != 0` as SQL; `asked` is an int or a bind parameter."""
    return level_column.op("&")(asked) != 0
