"""Reading hundreds of rows a request, cheaply: the v1 list reads ~1,500 rows a page and their fields tens of
thousands of times.

- Rows are named tuples. SQLAlchemy's `Row` reads a field by name about twenty times slower than a named tuple.
- On PostgreSQL the rows are the driver's own: psycopg already gives every column type these statements read
  as its final Python value, so SQLAlchemy's per-value result processing is skipped. What that processing
  would have done for a `UTCDateTime` (convert to UTC) is either not needed or done in SQL (`utc_naive`).
  On SQLite, values need SQLAlchemy's processing (booleans are integers, datetimes text) and get it.
- Enums are read as their stored strings (`text`), and timestamps that are only written out as naive UTC
  datetimes (`utc_naive`), which `common.public_json` writes with a `Z` as it does aware ones.
- Statements run many times are `Query`s: on PostgreSQL compiled once and run straight on the driver's cursor.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import Connection, DateTime, Dialect, Result, Select, String, type_coerce
from sqlalchemy.exc import DBAPIError
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


AnySelect: TypeAlias = Select[*tuple[Any, ...]]


class Query:
    """A SELECT built once and run many times, with values for its parameters that have none (`bindparam("ids")`).

    On PostgreSQL it is compiled once and run straight on the driver's cursor, in the connection's transaction:
    SQLAlchemy's work per execution (an execution context, a result object, the driver's column descriptions it
    reads) costs ~0.2 ms a statement, as much as a small indexed query. The values fixed in the statement are
    bound once, through their types' bind processing, and the values given are processed as SQLAlchemy would.
    A statement whose text depends on a value given (an `IN` of a list given at execution) runs through
    SQLAlchemy, as every statement does on SQLite, where values need its result processing.

    `once=True`: a statement built for one request, which compiling here would cost more than running it through
    SQLAlchemy's compiled cache."""

    def __init__(self, statement: AnySelect, *, once: bool = False) -> None:
        self.statement = statement
        self.fields = tuple(statement.selected_columns.keys())
        self._row = _row_type(self.fields)
        self._once = once
        self._direct: dict[str, _Direct | None] = {}  # per dialect; None: through SQLAlchemy

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[Any]:
        """Named tuples, fields named as the statement's columns."""
        return list(map(self._row._make, self.tuples(connection, values)))

    def tuples(self, connection: Connection, values: Mapping[str, Any]) -> Sequence[Any]:
        """Rows to unpack by position."""
        direct = self.direct(connection.dialect)
        if direct is None:
            return tuples(connection.execute(self.statement, values))
        if not connection.in_transaction():
            connection.begin()
        return direct.run(connection, values)

    def direct(self, dialect: Dialect) -> _Direct | None:
        """How it runs straight on the driver, None when it goes through SQLAlchemy."""
        if self._once:
            return None
        try:
            return self._direct[dialect.name]
        except KeyError:
            direct = self._direct[dialect.name] = _Direct.compile(self.statement, dialect)
            return direct


@dataclass(frozen=True)
class _Direct:
    sql: str
    fixed: dict[str, Any]  # the statement's own values, processed for the driver
    processors: Mapping[str, Callable[[Any], Any]]  # for the values given at execution, by parameter name

    @classmethod
    def compile(cls, statement: AnySelect, dialect: Dialect) -> _Direct | None:
        if dialect.name != "postgresql" or dialect.paramstyle != "pyformat":
            return None
        compiled = statement.compile(dialect=dialect)
        given = {name for name, bind in compiled.binds.items() if bind.required}
        if compiled.escaped_bind_names or any(compiled.binds[name].expanding for name in given):
            return None  # its SQL depends on the values given: SQLAlchemy finishes it at each execution
        # Lists fixed in the statement (`NOT IN ('Private')`) are expanded once, here.
        expanded = compiled.construct_expanded_state({name: None for name in given})

        origin = {name: list_name for list_name, names in expanded.parameter_expansion.items() for name in names}

        def processor(name: str) -> Callable[[Any], Any] | None:  # SQLAlchemy's, for a parameter of the SQL
            if name in expanded.processors:
                return expanded.processors[name]
            return compiled.binds[origin.get(name, name)].type.bind_processor(dialect)  # a list's: its elements'

        fixed, processors = {}, {}
        for name, value in expanded.parameters.items():
            process = processor(name)
            if name not in given:
                fixed[name] = value if process is None else process(value)
            elif process is not None:
                processors[name] = process
        return cls(expanded.statement, fixed, processors)

    def run(self, connection: Connection, values: Mapping[str, Any]) -> Sequence[Any]:
        bound = dict(self.fixed)
        for name, value in values.items():
            process = self.processors.get(name)
            bound[name] = value if process is None else process(value)
        dbapi_connection = connection.connection
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, bound)
            rows: Sequence[Any] = cursor.fetchall()
            return rows
        except connection.dialect.loaded_dbapi.Error as error:  # raised as SQLAlchemy would, the pool told
            dialect = connection.dialect
            gone = dialect.is_disconnect(error, dbapi_connection, cursor)
            if gone:
                connection.invalidate(error)
            raise DBAPIError.instance(
                self.sql, bound, error, dialect.loaded_dbapi.Error, connection_invalidated=gone, dialect=dialect
            ) from error
        finally:
            cursor.close()


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
