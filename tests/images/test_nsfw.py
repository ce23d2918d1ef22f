"""Civitai's NSFW levels as the images domain names them (reference civitai.md §1.6, §3.4)."""

from __future__ import annotations

import pytest

from modelyard.images import nsfw


@pytest.mark.parametrize(
    ("browsing_level", "flag", "asked"),
    [(None, None, 1), (None, False, 1), (None, True, 31), (0, True, 1), (12, None, 12), (63, False, 63)],
)
def test_what_a_model_request_asks_for(browsing_level, flag, asked):
    assert nsfw.asked_level(browsing_level, flag) == asked


@pytest.mark.parametrize(
    ("browsing_level", "name", "flag", "asked"),
    [
        (None, None, None, 1),
        (None, None, True, 60),  # NSFW only: R, X, XXX and Blocked
        (None, None, False, 1),
        (None, "None", None, 1),
        (None, "Soft", None, 3),
        (None, "mature", None, 7),
        (None, "X", None, 31),
        (0, None, True, 60),  # 0 is not a choice: nsfw decides
        (8, "Soft", True, 8),
    ],
)
def test_what_an_image_feed_request_asks_for(browsing_level, name, flag, asked):
    assert nsfw.asked_image_level(browsing_level, name, flag) == asked


@pytest.mark.parametrize(
    ("level", "name", "is_nsfw"),
    [(0, "None", False), (1, "None", False), (2, "Soft", False), (3, "Soft", True), (4, "Mature", True),
     (8, "X", True), (16, "X", True), (24, "X", True), (32, "Blocked", True), (5, "Mature", True)],
)  # fmt: skip
def test_an_image_level_is_named_by_its_highest_bit(level, name, is_nsfw):
    assert nsfw.level_name(level) == name
    assert nsfw.is_nsfw(level) is is_nsfw


def test_the_flags_are_civitais_bits():
    assert [int(flag) for flag in nsfw.BrowsingLevel] == [1, 2, 4, 8, 16, 32]
    assert nsfw.NSFW_LEVELS == nsfw.BrowsingLevel.R | nsfw.BrowsingLevel.X | nsfw.BrowsingLevel.XXX | 32
    assert nsfw.ALL_LEVELS == 31 and nsfw.SFW == 3
