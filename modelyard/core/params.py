"""Request parameters with the bounds the database needs: `Id` for every id in a path or query string.

Ids are 32-bit integer columns. An unbounded `int` lets `99999999999999999999` through to the database driver,
which fails with an overflow (SQLite past 2^63, PostgreSQL past 2^31) and the request with a 500. `Id` refuses
anything outside 1..2^31-1 before the endpoint runs (a 422, or Civitai's 400 under /api/v1), and says so in
OpenAPI. `tests/core/test_bad_input.py` walks every route and fails on an integer parameter without such bounds,
so a new route cannot forget it.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Interval

ID_MAX = 2**31 - 1  # PostgreSQL's `integer`, the type of every id column
BOUNDS = Interval(ge=1, le=ID_MAX)

# In a path (`model_id: Id`) or a query string (`before: Id | None = None`, or with
# `Annotated[Id | None, Query(alias=...)]`): FastAPI takes the bounds from the type wherever it is used.
Id = Annotated[int, BOUNDS]


def id_or_none(text: str) -> int | None:
    """An id typed into a form or filter box: the number, or None when it is blank, not a whole number or out of
    range (no row can have it)."""
    text = text.strip()
    if not text.isdigit() or len(text) > len(str(ID_MAX)):
        return None
    number = int(text)
    return number if 1 <= number <= ID_MAX else None
