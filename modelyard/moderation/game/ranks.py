"""Ranks, experience and vote weight: a player climbs from Acolyte to Knight to Templar by experience, and a
higher rank's vote weighs more in the consensus. A benched player's vote weighs nothing."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.images.nsfw import BrowsingLevel


@dataclass(frozen=True)
class Rank:
    name: str
    min_exp: int
    weight: float


RANKS = (Rank("Acolyte", 0, 1.0), Rank("Knight", 500, 2.0), Rank("Templar", 2500, 3.0))

# Experience per judged answer. Checks move standing more than queued images do: they are the ground truth.
EXP_CORRECT = 10
EXP_FAILED = -5
STANDING_CORRECT = 1
STANDING_FAILED = -1
CHECK_STANDING_FACTOR = 3

# What a player may answer, in the order of the buttons (their keyboard shortcuts are 1 to 6).
LEVELS: tuple[tuple[str, str, int], ...] = (
    ("PG", "PG", int(BrowsingLevel.PG)),
    ("PG13", "PG-13", int(BrowsingLevel.PG13)),
    ("R", "R", int(BrowsingLevel.R)),
    ("X", "X", int(BrowsingLevel.X)),
    ("XXX", "XXX", int(BrowsingLevel.XXX)),
    ("Blocked", "Blocked / report", int(BrowsingLevel.Blocked)),
)
LEVEL_BY_NAME = {name.lower(): value for name, _, value in LEVELS} | {"pg-13": int(BrowsingLevel.PG13)}
NAME_BY_LEVEL = {value: name for name, _, value in LEVELS}
LABEL_BY_LEVEL = {value: label for _, label, value in LEVELS}


def rank_for(exp: int) -> Rank:
    return max((rank for rank in RANKS if exp >= rank.min_exp), key=lambda rank: rank.min_exp)


def next_rank(exp: int) -> Rank | None:
    return next((rank for rank in RANKS if rank.min_exp > exp), None)


def vote_weight(exp: int, *, benched: bool) -> float:
    return 0.0 if benched else rank_for(exp).weight
