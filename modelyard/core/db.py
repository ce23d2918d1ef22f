"""Database: one engine per process, SQLite by default, PostgreSQL by URL.

Only the boundary commits: the request dependency (`modelyard.core.http.get_session`) or the job runner.
Services flush at most. Work that must happen only once a transaction is durable (sending a job, publishing an
event, invalidating a cache tag) is registered with `on_commit` and is dropped on rollback.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine, Result
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from modelyard.core.settings import Settings, ensure_data_dir

log = logging.getLogger(__name__)
T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, lower-cased, with its wildcards escaped (use `escape="\\"`): "_"
    in a search must match itself, not any character."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite keeps no zone; we store UTC and re-attach it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(settings: Settings) -> Engine:
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        ensure_data_dir(settings.data_dir)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            json_deserializer=orjson.loads,
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = settings.db_connect_timeout_seconds
    engine = create_engine(
        url,
        connect_args=connect_args,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_connect_timeout_seconds,
        # JSON columns are read on every list (tags, trigger words, file metadata): orjson reads them several
        # times faster than the json module, with the same results for the JSON we write.
        json_deserializer=orjson.loads,
    )
    _ping_when_idle(engine)
    return engine


IDLE_PING_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Drop connections a database restart killed, so the service recovers by itself: a connection that sat in
    the pool longer than IDLE_PING_SECONDS is pinged when taken out, and replaced if the ping fails.

    SQLAlchemy's `pool_pre_ping` pings on every checkout, a round trip on every request. A connection given back
    less than a second ago is alive unless the database went away in that second; a request then fails with or
    without the ping (the database is down), and the error marks every pooled connection stale, so the next
    requests reconnect."""

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool retries the checkout with a new connection
            raise DisconnectionError("the pooled connection is gone") from exc


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN; we take control so that
        # SQLAlchemy's BEGIN is the one that runs (see SQLAlchemy "Serializable isolation / Savepoints").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    turns = _WriterTurns(busy_timeout_ms / 1000)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers BEGIN IMMEDIATE: they queue on busy_timeout for the write lock instead of failing with
        # "database is locked" when a deferred read transaction tries to upgrade. Readers stay deferred so
        # they run in parallel under WAL.
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        if mode == "IMMEDIATE":
            turns.take(connection.info)
        try:
            connection.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            turns.give_back(connection.info)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: Any) -> None:
        turns.give_back(connection.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:  # a transaction the pool reset ends here
        turns.give_back(record.info)


class _WriterTurns:
    """This process's SQLite writers take turns at a lock of their own before `BEGIN IMMEDIATE`. Left to
    SQLite's busy handler, a writer that finds the database locked sleeps in growing steps (up to 100 ms) and
    looks again, while writers arriving meanwhile may take the lock first: with a dozen threads writing, a
    transaction waited seconds for a lock free most of the time. Here the next writer starts as soon as the last
    one ends. Writers of other processes still meet through SQLite's lock; a writer that waits here past the busy
    timeout goes on to SQLite's lock and fails there as it would have."""

    KEY = "modelyard_sqlite_writer_turn"

    def __init__(self, timeout: float) -> None:
        self._lock = threading.Lock()
        self._timeout = timeout

    def take(self, info: dict[str, Any]) -> None:
        if not info.get(self.KEY) and self._lock.acquire(timeout=self._timeout):
            info[self.KEY] = True

    def give_back(self, info: dict[str, Any]) -> None:
        if info.pop(self.KEY, False):
            self._lock.release()


_BEGIN_OPTION = "modelyard_sqlite_begin"


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        write_engine = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        self.write_sessionmaker = sessionmaker(write_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool = False) -> Session:
        """A new session; `write=True` for one that will write (matters on SQLite only)."""
        return self.write_sessionmaker() if write else self.sessionmaker()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back if it raises."""
        with self.session(write=write) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def read(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` on a bare Connection: no Session, no unit of work, nothing committed. For reads
        only: the transaction is rolled back when the connection goes back to the pool, so a write is lost."""
        with self.engine.connect() as connection:
            return work(connection)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def affected_rows(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (Session.execute is typed as returning a plain Result)."""
    return cast(CursorResult[Any], result).rowcount


# --- after-commit hooks ---------------------------------------------------------------------------------------

_HOOKS_KEY = "modelyard.on_commit"


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction commits; forget it if the transaction rolls back."""
    session.info.setdefault(_HOOKS_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_commit_hooks(session: Session) -> None:
    for callback in session.info.pop(_HOOKS_KEY, []):
        try:
            callback()
        except Exception:
            # The transaction is durable; a failed side effect (Redis down while sending a job) is recovered
            # by its owner (the job reaper re-sends unsent jobs), so it must not turn the request into an error.
            log.exception("after-commit hook failed")


@event.listens_for(Session, "after_rollback")
def _drop_commit_hooks(session: Session) -> None:
    session.info.pop(_HOOKS_KEY, None)
