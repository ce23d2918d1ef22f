"""What a request does to record an event (a download): append it to this process's buffer in memory. A thread
writes the buffer to `stat_event` about once a second, in one transaction, where the aggregation job finds it.

Why a buffer and not an insert per request: the insert is a write transaction of its own, and on the download
hot path it cost a quarter of the requests/s on both databases (SQLite's single write lock, PostgreSQL's commit
flush): 0.72 and 0.76 of the floor, where the buffer measured 1.03 and 0.97 (`bench/download_hot_path.py`,
docs/decisions/0017-download-trends.md). What it costs: a web process that dies hard loses the events of its
last second (a stop writes them); a failed write is retried.

    stats_buffer.buffered(runtime).add(stats.VERSION_DOWNLOADS, entity_id=version.id, actor="user:7")
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from modelyard.catalog import stats
from modelyard.core.runtime import Runtime

log = logging.getLogger("modelyard.catalog")

FLUSH_SECONDS = 1.0
FLUSH_AT = 2_000  # events waiting: write now rather than at the next tick
MAX_PENDING = 200_000  # while the database is unreachable, keep this many events at most (about 40 MB)


class EventBuffer:
    """Events waiting to be written, deduplicated as they arrive (one actor, one entity, one day is one event),
    and the thread that writes them. Made per runtime by `buffered`; `close()` writes what is left."""

    def __init__(self, runtime: Runtime, *, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.db = runtime.db
        self.flush_seconds = flush_seconds
        self.dropped = 0
        self._pending: dict[stats.EventKey, None] = {}  # an ordered set: the oldest are written first
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, metric: stats.Metric, *, entity_id: int, actor: str, now: datetime | None = None) -> None:
        """Record an event; never raises and never waits on the database."""
        key = stats.event_key(metric, entity_id=entity_id, actor=actor, now=now)
        with self._lock:
            if len(self._pending) >= MAX_PENDING and key not in self._pending:
                self.dropped += 1
                return
            self._pending[key] = None
            waiting = len(self._pending)
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._run, name="stats-buffer", daemon=True)
                self._thread.start()
        if waiting >= FLUSH_AT:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write the events waiting now, in one transaction; returns how many. On a database error they go back
        to the buffer, ahead of newer ones, for the next flush."""
        with self._flushing:
            with self._lock:
                taken, self._pending = self._pending, {}
            if not taken:
                return 0
            try:
                with self.db.transaction(write=True) as session:
                    stats.record_many(session, taken)
            except SQLAlchemyError:
                log.warning("statistics events not written; retrying", extra={"events": len(taken)}, exc_info=True)
                self._put_back(taken)
                return 0
            return len(taken)

    def _put_back(self, taken: dict[stats.EventKey, None]) -> None:
        with self._lock:
            merged = taken | self._pending
            if len(merged) > MAX_PENDING:
                self.dropped += len(merged) - MAX_PENDING
                merged = dict.fromkeys(list(merged)[-MAX_PENDING:])
            self._pending = merged

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def close(self) -> None:  # Runtime.close(): the process is stopping
        self._closed.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self.flush()
        if self.dropped:
            log.warning("statistics events dropped while the database was unreachable", extra={"events": self.dropped})


def buffered(runtime: Runtime) -> EventBuffer:
    """This runtime's buffer of statistics events (made on first use; its thread starts with the first event)."""
    return runtime.extension("catalog.stats_buffer", EventBuffer)
