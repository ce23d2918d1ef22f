"""Paging, one way for every list of the site and the APIs: a page is asked for with a limit and either a cursor
(keyset: the position after the last row seen) or a page number (offset), and answered with its items, whether
more follow, and the cursor of the next page.

Keyset cursors are the default: a page costs the same however deep it is, and walking a list while rows are
added never skips or repeats one. Page numbers are for people (`?page=3` in a URL) and for clients that ask for
them; lists cap how deep they go, since an offset reads every row before it.

A cursor is the sort value and id of the last row, joined by `|` (`2026-05-01T12:00:00+00:00|42`): Civitai's
format, which its clients already carry. It is opaque to clients (they pass back what they were given), and it
grants nothing: a list applies its visibility rule whatever the cursor says, so a cursor written by hand can only
move the position. What matters is that a bad one is refused plainly: every part is parsed as the type and range
its column holds, and anything else is a 400 naming the cursor, never a database error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_

from modelyard.core.errors import BadRequest

T = TypeVar("T")

INT4 = range(-(2**31), 2**31)  # ids and counters are 32-bit columns
MAX_OFFSET = 10**6
CURSOR_MAX_LENGTH = 200
BAD_CURSOR = "Invalid cursor: pass back the cursor the previous page gave"


@dataclass(frozen=True)
class PageRequest:
    """What a caller asked for: `limit` rows, from `cursor` (keyset) or page `page` (offset), or from the top."""

    limit: int
    page: int | None = None
    cursor: str | None = None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit if self.page else 0


def page_request(
    *, limit: int | None, default_limit: int, max_limit: int, page: int | None = None, cursor: str | None = None
) -> PageRequest:
    """A checked request: 1 <= limit <= max_limit (absent: the default), page >= 1, a cursor of sane length.
    A page number wins over a cursor, as Civitai's lists do."""
    chosen = default_limit if limit is None else limit
    if not 1 <= chosen <= max_limit:
        raise BadRequest(f"Invalid limit: must be between 1 and {max_limit}")
    if page is not None and not 1 <= page <= MAX_OFFSET:
        raise BadRequest(f"Invalid page: must be between 1 and {MAX_OFFSET}")
    if cursor is not None and (len(cursor) > CURSOR_MAX_LENGTH or "\x00" in cursor):
        raise BadRequest(BAD_CURSOR)
    return PageRequest(limit=chosen, page=page, cursor=None if page is not None else (cursor or None))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. `next_cursor` is set when more follow and the list pages by keyset; `number` when
    the page was asked for by number."""

    items: list[T]
    has_next: bool
    next_cursor: str | None = None
    number: int | None = None

    @property
    def past_the_end(self) -> bool:
        """A numbered page after the last one: worth saying so rather than showing an empty list."""
        return not self.items and (self.number or 1) > 1


def take(rows: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """Split the `limit + 1` rows a page query fetched into the page and whether more follow."""
    return list(rows[:limit]), len(rows) > limit


# --- cursors ------------------------------------------------------------------------------------------------------


def encode_cursor(*values: int | datetime | str) -> str:
    """The cursor of a row: its sort values, then its id (datetimes in ISO 8601)."""
    return "|".join(value.isoformat() if isinstance(value, datetime) else str(value) for value in values)


def decode_cursor(raw: str, *kinds: type) -> tuple[Any, ...]:
    """The values a cursor carries, each parsed as its kind (`int`: in a 32-bit column's range; `datetime`: ISO
    8601, UTC when written without a zone), or a 400."""
    parts = raw.split("|")
    if len(parts) != len(kinds) or len(raw) > CURSOR_MAX_LENGTH:
        raise BadRequest(BAD_CURSOR)
    return tuple(_part(part, kind) for part, kind in zip(parts, kinds, strict=True))


def _part(text: str, kind: type) -> Any:
    try:
        if kind is datetime:
            moment = datetime.fromisoformat(text)
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        if kind is int:
            number = int(text)
            if number not in INT4:
                raise BadRequest("Invalid cursor: out of range")
            return number
    except ValueError:
        raise BadRequest(BAD_CURSOR) from None
    raise TypeError(f"no cursor part of kind {kind!r}")


def decode_offset(raw: str | None) -> int:
    """An offset carried as a cursor (searches page by offset, as Civitai's do); none is the start."""
    if not raw:
        return 0
    try:
        offset = int(raw)
    except ValueError:
        raise BadRequest(BAD_CURSOR) from None
    if not 0 <= offset <= MAX_OFFSET:
        raise BadRequest("Invalid cursor: out of range")
    return offset


def after(column: Any, value: Any, id_column: Any, last_id: Any, *, descending: bool) -> ColumnElement[bool]:
    """Rows strictly after (`value`, `last_id`) in the order `column, id_column`, both ascending or both
    descending: the keyset condition of a cursor."""
    if descending:
        return or_(column < value, and_(column == value, id_column < last_id))
    return or_(column > value, and_(column == value, id_column > last_id))
