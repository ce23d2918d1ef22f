"""The paging helper every list uses: requests checked, cursors that round-trip and refuse anything else plainly,
pages split from the one extra row fetched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from modelyard.core import paging
from modelyard.core.errors import BadRequest


def test_a_cursor_round_trips_its_values() -> None:
    moment = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    raw = paging.encode_cursor(moment, 42)
    assert paging.decode_cursor(raw, datetime, int) == (moment, 42)
    assert paging.decode_cursor(paging.encode_cursor(7, 9), int, int) == (7, 9)


def test_a_date_written_without_a_zone_reads_as_utc_and_one_with_a_zone_keeps_it() -> None:
    (naive,) = paging.decode_cursor("2026-01-01T00:00:00", datetime)
    assert naive == datetime(2026, 1, 1, tzinfo=UTC)
    (zoned,) = paging.decode_cursor("2026-01-01T02:00:00+02:00", datetime)
    assert zoned.utcoffset() == timedelta(hours=2) and zoned == datetime(2026, 1, 1, tzinfo=UTC)
    assert zoned.tzinfo == timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    "raw",
    ["", "|", "1", "1|2|3", "x|1", "1|x", "2024-13-01T00:00:00|1", "1|99999999999", "99999999999|1", "1.5|2",
     "1" * 300 + "|1"],
)  # fmt: skip
def test_anything_but_a_cursor_is_a_400_naming_it(raw: str) -> None:
    kinds = (datetime, int) if raw.startswith("2024") else (int, int)
    with pytest.raises(BadRequest, match="cursor"):
        paging.decode_cursor(raw, *kinds)


@pytest.mark.parametrize("raw", ["-1", "x", "1000001", "1e3"])
def test_an_offset_cursor_is_a_small_whole_number(raw: str) -> None:
    with pytest.raises(BadRequest, match="cursor"):
        paging.decode_offset(raw)


def test_an_offset_cursor_reads_and_none_is_the_start() -> None:
    assert paging.decode_offset(None) == paging.decode_offset("") == 0
    assert paging.decode_offset("200") == 200


def test_a_request_is_checked_and_a_page_number_wins_over_a_cursor() -> None:
    asked = paging.page_request(limit=None, default_limit=20, max_limit=100, page=3, cursor="5|6")
    assert (asked.limit, asked.page, asked.cursor, asked.offset) == (20, 3, None, 40)
    keyset = paging.page_request(limit=10, default_limit=20, max_limit=100, cursor="5|6")
    assert (keyset.page, keyset.cursor, keyset.offset) == (None, "5|6", 0)
    for limit, page, cursor in ((0, None, None), (101, None, None), (10, 0, None), (10, None, "a\x00b")):
        with pytest.raises(BadRequest):
            paging.page_request(limit=limit, default_limit=20, max_limit=100, page=page, cursor=cursor)


def test_take_splits_the_extra_row_and_a_numbered_page_past_the_end_says_so() -> None:
    assert paging.take([1, 2, 3], 2) == ([1, 2], True)
    assert paging.take([1, 2], 2) == ([1, 2], False)
    assert paging.Page(items=[], has_next=False, number=3).past_the_end
    assert not paging.Page(items=[], has_next=False, number=1).past_the_end
    assert not paging.Page(items=[], has_next=False).past_the_end
