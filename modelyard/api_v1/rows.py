"""Reading hundreds of rows a request, cheaply: the v1 list reads ~1,500 rows a page and their fields tens of
thousands of times.

- Rows are named tuples. SQLAlchemy's `Row` reads a field by name about twenty times slower than a named tuple.
- On PostgreSQL the rows are the driver's own: psycopg already gives every column type these statements read
  as its final Python value, so SQLAlchemy's per-value result processing is skipped. What that processing
  would have done for a `UTCDateTime` (convert to UTC) is either not needed or done in SQL (`utc_naive`).
  On SQLite, values need SQLAlchemy's processing (booleans are integers, datetimes text) and get it.
- Enums are read as their stored strings (`text`), and timestamps that are only written out as naive UTC
  datetimes (`utc_naive`), which `common.public_json` writes with a `Z` as it does aware ones.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Result, String, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


def plain(result: Result[Any]) -> list[Any]:
    """The result's rows as named tuples, fields named as its columns."""
    return list(map(_row_type(tuple(result.keys()))._make, tuples(result)))


def tuples(result: Result[Any]) -> Sequence[Any]:
    """The result's rows, to be unpacked by position; fetched all at once (psycopg fetches row by row several
    times slower)."""
    cursor = getattr(result, "cursor", None)
    if cursor is not None and _driver_values_are_final(result):
        rows: Sequence[Any] = cursor.fetchall()
        result.close()
        return rows
    return result.all()


def _driver_values_are_final(result: Result[Any]) -> bool:
    context = getattr(result, "context", None)
    return context is not None and context.dialect.name == "postgresql"


@functools.lru_cache(maxsize=64)
def _row_type(fields: tuple[str, ...]) -> Any:
    return namedtuple("Row", fields)  # the fields are a statement's columns, known only at run time


def text(column: Any) -> Any:
    """An enum column read as its plain string. The enums are StrEnums spelled as stored, so the strings compare
    equal to their members and serialize the same; a page skips turning thousands of strings into members."""
    return type_coerce(column, String).label(column.key)


class _UTCNaive(FunctionElement[datetime]):
    type = DateTime()
    name = "utc_naive"
    inherit_cache = True


def utc_naive(column: Any) -> Any:
    """A UTC timestamp column read as a naive datetime holding UTC, for values that are only written out."""
    return _UTCNaive(column).label(column.key)


@compiles(_UTCNaive)
def _utc_naive_stored(element: _UTCNaive, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)  # SQLite stores UTC without a zone already


@compiles(_UTCNaive, "postgresql")
def _utc_naive_postgresql(element: _UTCNaive, compiler: SQLCompiler, **kw: Any) -> str:
    return f"timezone('UTC', {compiler.process(element.clauses, **kw)})"
