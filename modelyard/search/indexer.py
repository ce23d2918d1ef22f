"""Applying the search outbox: the changes a transaction queued reach the indexes right after it commits.

`outbox.queue` marks its session; when that session commits, this process's `Applier` thread wakes at once,
claims the pending rows, reads each changed entity's current state through its index's source (so the action a
row names is only a hint: an entity that is gone or hidden is deleted, one that is there is rewritten), writes
the documents (`store.upsert` / `store.delete`), marks the rows processed and commits, an index per transaction.
Models and images are applied by that thread; creators and tags, whose documents hold counts, by a second one at
most twice a second (`Lane`). Embeddings come after, in a thread of their own, so keyword search never waits on
the model. The appliers also poll every few seconds for rows that no commit of this process announced (another
process's, a command's); a process without an applier announces its commits to the others over the event bus.

Concurrency: several processes apply at once. Each claims rows with `FOR UPDATE SKIP LOCKED` (PostgreSQL; on
SQLite the write lock makes the applier the one writer), and takes a transaction-scoped advisory lock per
(index, entity), in a fixed order, before reading the entity: two processes never write one document from two
readings, so a stale reading never lands after a fresh one. The rebuild and the reconciler take the same locks.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, event, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from modelyard.search import outbox, sources, store
from modelyard.search.models import SearchDocument, SearchIndexUpdate
from modelyard.search.store import Stored

if TYPE_CHECKING:  # the semantic side (and its model) loads on first use
    from modelyard.search.semantic.embeddings import Embedded

log = logging.getLogger("modelyard.search")

WAKE_CHANNEL = "search.outbox"


# --- writing documents ------------------------------------------------------------------------------------------


def lock_entities(session: Session, index: str, entity_ids: Sequence[int]) -> None:
    """Hold each entity's advisory lock until the transaction ends (PostgreSQL; SQLite has one writer). Ids
    ascending, and a transaction writes one index, so two writers never wait on each other in a circle."""
    if not entity_ids or session.get_bind().dialect.name != "postgresql":
        return
    space = zlib.crc32(f"search:{index}".encode()) - 2**31  # a signed 32-bit key of its own per index
    session.execute(
        text("SELECT pg_advisory_xact_lock(:space, entity_id) FROM unnest(CAST(:ids AS integer[])) AS entity_id"),
        {"space": space, "ids": list(entity_ids)},
    )


def write_documents(
    session: Session, index: str, entity_ids: Iterable[int], *, generation: int | None = None
) -> list[Stored]:
    """Read the entities as they are now and write their documents (delete those not indexable), in the caller's
    transaction, under the entities' locks. A rebuild gives its `generation`; live writes leave it to the store."""
    ids = sorted(set(entity_ids))
    if not ids:
        return []
    lock_entities(session, index, ids)
    docs = sources.source(index).load(session, ids)
    gone = [entity_id for entity_id in ids if docs.get(entity_id) is None]
    if gone:
        store.delete(session, index, gone)
    present = [doc for entity_id in ids if (doc := docs.get(entity_id)) is not None]
    return store.upsert(session, present, generation=generation) if present else []


def embed(session: Session, stored: Sequence[Stored]) -> int:
    """Write the embeddings of the documents whose text changed or whose embedding is missing (in the caller's
    transaction). Returns how many vectors were written."""
    embedded = make_embeddings(session, stored)
    return write_embeddings(session, stored, embedded) if embedded is not None else 0


def make_embeddings(session: Session, stored: Sequence[Stored]) -> Embedded | None:
    """The embeddings due to those of `stored` still stored, made by the model; the session only reads. The
    model loads on first use, so it is imported here, not with the indexer."""
    from modelyard.search import semantic

    alive = _still_stored(session, stored)
    return semantic.make_embeddings(session, alive) if alive else None


def write_embeddings(session: Session, stored: Sequence[Stored], embedded: Embedded) -> int:
    """Write what `make_embeddings` made for the documents that are still what was embedded, checked again now:
    nothing was locked while the model ran, so a document may have been rewritten or deleted since. A delete
    that lands between the check and the write breaks the embedding's foreign key, and the write is done again
    without it."""
    from modelyard.search import semantic

    for attempt in range(2):
        current = {item.doc_id for item in _still_stored(session, stored)}
        try:
            with session.begin_nested():
                return semantic.write_embedded(session, embedded.only(current))
        except IntegrityError:
            if attempt:
                raise
    return 0


def _still_stored(session: Session, stored: Sequence[Stored]) -> list[Stored]:
    """Those of `stored` whose document is still the one written: same id, entity and text. A document rewritten
    since has its own embedding queued; an id deleted and given to another document (SQLite reuses the highest
    id) must not get the old text's vector."""
    if not stored:
        return []
    rows = session.execute(
        select(SearchDocument.id, SearchDocument.index, SearchDocument.entity_id, SearchDocument.text_hash).where(
            SearchDocument.id.in_([item.doc_id for item in stored])
        )
    )
    present = {(int(doc_id), index, int(entity_id), text_hash) for doc_id, index, entity_id, text_hash in rows}
    return [item for item in stored if (item.doc_id, item.index, item.entity_id, item.text_hash) in present]


def index_now(session: Session, index: str, entity_ids: Iterable[int]) -> list[Stored]:
    """Bring these entities' documents up to date now, without the outbox, in the caller's transaction
    (embeddings included)."""
    stored = write_documents(session, index, entity_ids)
    embed(session, stored)
    return stored


# --- the outbox -------------------------------------------------------------------------------------------------


# What people look for first is written, and committed, first: the counts of creators and tags follow it.
FIRST = ("models", "images")


class Lane(enum.Enum):
    """Which outbox rows a pass applies. The applier thread takes the first indexes as soon as a commit announces
    them; the rest (creators and tags, whose documents hold counts over many rows, a tag's over every model that
    carries it) go through a thread of their own at most every `LATER_SECONDS`, so a burst of publishes recounts
    each tag once and never delays the next model."""

    all = "all"
    first = "first"
    later = "later"

    def condition(self) -> ColumnElement[bool] | None:
        if self is Lane.first:
            return SearchIndexUpdate.index.in_(FIRST)
        if self is Lane.later:
            return SearchIndexUpdate.index.not_in(FIRST)
        return None


LATER_SECONDS = 0.5
# Entities of the later lane written per transaction: a tag's recount reads every model carrying it, and on
# SQLite the write lock is held throughout; between these short transactions the models' writes get it.
LATER_CHUNK = 10


def _pending(lane: Lane) -> list[ColumnElement[bool]]:
    lane_condition = lane.condition()
    pending = SearchIndexUpdate.processed_at.is_(None)
    return [pending] if lane_condition is None else [pending, lane_condition]


def _claim(session: Session, limit: int, lane: Lane = Lane.all) -> list[tuple[int, str, int]]:
    query = (
        select(SearchIndexUpdate.id, SearchIndexUpdate.index, SearchIndexUpdate.entity_id)
        .where(*_pending(lane))
        .order_by(SearchIndexUpdate.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(row_id, index, entity_id) for row_id, index, entity_id in session.execute(query)]


def _in_order(indexes: Iterable[str]) -> list[str]:
    return sorted(indexes, key=lambda name: (FIRST.index(name) if name in FIRST else len(FIRST), name))


def _write_index(session: Session, index: str, entity_ids: set[int], *, isolate: bool) -> list[Stored]:
    """Write the claimed entities of one index; `isolate`: each in a savepoint of its own, and one that fails is
    logged and left to the reconciler instead of holding the queue up."""
    if not isolate:
        return write_documents(session, index, entity_ids)
    stored: list[Stored] = []
    for entity_id in sorted(entity_ids):
        try:
            with session.begin_nested():
                stored.extend(write_documents(session, index, [entity_id]))
        except Exception:
            log.exception("could not index an entity", extra={"index": index, "entity_id": entity_id})
    return stored


def apply_claimed(
    session: Session, *, limit: int = 500, isolate: bool = False, lane: Lane = Lane.all
) -> tuple[int, list[Stored]]:
    """Claim up to `limit` pending rows (of the `lane`'s indexes) and apply them, an index per transaction (the
    later lane: `LATER_CHUNK` entities per transaction): write the documents (a burst of changes to one entity is
    one write), mark the rows processed, commit. The keyword half of `apply_pending`; returns the rows applied and
    what was stored (for the embeddings)."""
    rows = _claim(session, limit, lane)
    if not rows:
        session.rollback()
        return 0, []
    claimed: dict[str, dict[int, int]] = defaultdict(dict)  # index -> row id -> entity id
    for row_id, index, entity_id in rows:
        claimed[index][row_id] = entity_id
    known = set(sources.indexes())
    stored: list[Stored] = []
    for index in _in_order(claimed):
        if index not in known:
            log.warning("search outbox names an index nobody registered", extra={"index": index})
        entity_ids = sorted(set(claimed[index].values()))
        step = LATER_CHUNK if lane is Lane.later else max(len(entity_ids), 1)
        for start in range(0, len(entity_ids), step):
            part = set(entity_ids[start : start + step])
            if index in known:
                stored.extend(_write_index(session, index, part, isolate=isolate))
            done = [row_id for row_id, entity_id in claimed[index].items() if entity_id in part]
            session.execute(
                update(SearchIndexUpdate).where(SearchIndexUpdate.id.in_(done)).values(processed_at=utcnow())
            )
            session.commit()
    return len(rows), stored


def apply_pending(session: Session, *, limit: int = 500) -> int:
    """Apply up to `limit` pending outbox rows (committing), then write the embeddings of what changed
    (committing again). Returns the rows applied."""
    count, stored = apply_claimed(session, limit=limit)
    if stored:
        embed(session, stored)
        session.commit()
    return count


def has_pending(session: Session, lane: Lane = Lane.all) -> bool:
    found = session.scalar(select(SearchIndexUpdate.id).where(*_pending(lane)).limit(1))
    return found is not None


# --- the applier thread -----------------------------------------------------------------------------------------

_appliers: list[Applier] = []
_appliers_lock = threading.Lock()


class Applier:
    """This process's outbox applier: a thread writing the first indexes' documents, one writing the others' (see
    `Lane`), one writing their embeddings."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.batch = runtime.settings.search_apply_batch
        self.poll_seconds = runtime.settings.search_applier_poll_seconds
        self._wake = {Lane.first: threading.Event(), Lane.later: threading.Event()}
        self._stop = threading.Event()
        self._embeddings: queue.Queue[list[Stored]] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._apply_forever, args=(Lane.first,), name="search-applier", daemon=True),
            threading.Thread(target=self._apply_forever, args=(Lane.later,), name="search-applier-later", daemon=True),
            threading.Thread(target=self._embed_forever, name="search-embedder", daemon=True),
        ]
        self._unlisten: Any = None

    def start(self) -> None:
        self._unlisten = self.runtime.events.listen(WAKE_CHANNEL, lambda *_: self.wake())
        with _appliers_lock:
            _appliers.append(self)
        for thread in self._threads:
            thread.start()
        self.wake()  # rows left while no applier ran

    def stop(self, *, timeout: float = 10.0) -> None:
        with _appliers_lock:
            if self in _appliers:
                _appliers.remove(self)
        if self._unlisten is not None:
            self._unlisten()
        self._stop.set()
        for wake in self._wake.values():
            wake.set()
        self._embeddings.put([])
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=timeout)

    def wake(self) -> None:
        for wake in self._wake.values():
            wake.set()

    def _apply_forever(self, lane: Lane) -> None:
        failures = 0
        wake = self._wake[lane]
        while not self._stop.is_set():
            wake.wait(self.poll_seconds)
            if lane is Lane.later:  # changes that land meanwhile join this pass
                self._stop.wait(LATER_SECONDS)
            wake.clear()
            if self._stop.is_set():
                return
            try:
                self._drain(lane, isolate=failures > 0)
                failures = 0
            except Exception:
                failures += 1
                log.warning("search outbox pass failed; retrying", exc_info=True, extra={"failures": failures})
                self._stop.wait(min(0.1 * 2**failures, self.poll_seconds))
                wake.set()

    def _drain(self, lane: Lane, *, isolate: bool) -> None:
        while not self._stop.is_set():
            if self.runtime.db.dialect == "sqlite":  # a read first: polling never takes SQLite's write lock
                with self.runtime.db.session() as session:
                    if not has_pending(session, lane):
                        return
            with self.runtime.db.session(write=True) as session:
                count, stored = apply_claimed(session, limit=self.batch, isolate=isolate, lane=lane)
            if stored:
                self._embeddings.put(stored)
            if count < self.batch:
                return

    def _embed_forever(self) -> None:
        self._load_model()
        while not self._stop.is_set():
            stored = self._embeddings.get()
            while not self._embeddings.empty():  # a burst of small batches goes through the model as one
                stored = stored + self._embeddings.get_nowait()
            if self._stop.is_set() or not stored:
                continue
            try:
                self._embed(stored)
            except Exception:
                # The keyword documents are in; the reconciler writes the missing embeddings later.
                log.warning("could not write search embeddings", exc_info=True, extra={"documents": len(stored)})

    def _load_model(self) -> None:
        """Load the embedding model now, at start, rather than when the first change has to wait on it."""
        from modelyard.search import semantic

        try:
            semantic.embedder()
        except Exception:
            log.warning("could not load the embedding model; embeddings wait for the reconciler", exc_info=True)

    def _embed(self, stored: list[Stored]) -> None:
        """The model runs in a session that only reads; the vectors are written in a short transaction after,
        so on SQLite no writer waits on the model."""
        with self.runtime.db.session() as session:
            embedded = make_embeddings(session, stored)
        if embedded is None or not embedded.doc_ids:
            return
        with self.runtime.db.session(write=True) as session:
            write_embeddings(session, stored, embedded)
            session.commit()


def wake_appliers(runtime: Runtime) -> None:
    """Outbox rows were committed: wake this process's applier, or, in a process without one (a command), the
    other processes'."""
    with _appliers_lock:
        local = list(_appliers)
    for applier in local:
        applier.wake()
    if not local:
        runtime.events.publish(WAKE_CHANNEL, {})


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if not session.info.pop(outbox.QUEUED, False):
        return
    try:
        from modelyard.core.runtime import get_runtime

        wake_appliers(get_runtime())
    except Exception:  # the commit is durable; the appliers' polling finds the rows anyway
        log.warning("could not announce search outbox rows", exc_info=True)


@event.listens_for(Session, "after_rollback")
def _forget_queued(session: Session) -> None:
    session.info.pop(outbox.QUEUED, None)


def start_applier(runtime: Runtime) -> Applier | None:
    """Start this process's applier, unless the settings turn it off."""
    if not runtime.settings.search_applier:
        return None
    applier = Applier(runtime)
    applier.start()
    return applier
