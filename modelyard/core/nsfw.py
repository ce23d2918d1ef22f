"""Civitai's NSFW bit flags (reference civitai.md §3.4), in one place every domain reads: accounts (a viewer's
browsing level), the catalog (a model's level) and images (an image's level, and how the APIs name them,
`images.nsfw`). Content carries a level; a viewer asks for a set of levels as a bit mask and sees what shares a
bit with it (`level & asked != 0`); level 0 is unrated and matches nothing.
"""

from __future__ import annotations

from enum import IntFlag


class BrowsingLevel(IntFlag):
    """Civitai's NSFW bit flags."""

    PG = 1
    PG13 = 2
    R = 4
    X = 8
    XXX = 16
    Blocked = 32


PUBLIC = int(BrowsingLevel.PG)
SFW = int(BrowsingLevel.PG | BrowsingLevel.PG13)
ALL_LEVELS = 31  # everything a viewer may choose (Blocked is never chosen)
NSFW_LEVELS = 60  # R | X | XXX | Blocked: a model flagged nsfw, and what `nsfw=true` asks of the image feed
EVERY_LEVEL = 63  # a bit mask that matches any rated level: for owners' and single-object reads
