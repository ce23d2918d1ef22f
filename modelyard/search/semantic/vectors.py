"""The vector index: nearest documents to a vector by cosine similarity, behind `VectorIndex`.

`MemoryVectorIndex` keeps, per search index, every stored vector of the current embedder in one float32 matrix
and answers by an exact scan (matrix @ vector, then `argpartition` for the top k): 100k x 384 is 147 MiB and one
scan. The vectors live in the database (`search_embedding`), so the same class serves the embedded default and
a scaled-out installation, where every process keeps its own matrix fresh from PostgreSQL:

- before a query, at most every `search_vector_refresh_ms`, it reads the rows stamped since its last look
  (less an overlap: a transaction may commit after the look, with rows stamped before it); a commit of this
  process's own embeddings makes the next query look at once;
- rows are never changed in place (a changed vector is appended and the old row dropped), so a query scanning a
  matrix while a refresh runs reads each row whole;
- every `search_vector_reconcile_seconds` it compares its rows with the table's (ids and stamps only): vectors of
  deleted documents are dropped (until then they are harmless: callers pass every result through the index's
  SQL filters), and any change the refreshes missed is read.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
from sqlalchemy import Connection, Row, Select, func, select
from sqlalchemy.orm import Session

from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime, get_runtime
from modelyard.search.models import SearchEmbedding
from modelyard.search.semantic.embedders import embedder

# A refresh reads rows stamped up to this long before the previous look began: a writer's transaction that
# stamped its rows earlier but committed later is still found. The reconcile catches anything slower.
REFRESH_OVERLAP = timedelta(seconds=5)
RECONCILE_BATCH = 500
LOAD_BATCH = 5000
MIN_CAPACITY = 1024
GROWTH = 1.25
# `among` smaller than 1/SCAN_RATIO of the matrix: score only its rows; larger: scan all and mask.
SCAN_RATIO = 8


class VectorIndex(Protocol):
    def nearest(
        self, session: Session, index: str, vector: np.ndarray, k: int, *, among: Collection[int] | None = None
    ) -> list[tuple[int, float]]:
        """The `k` documents of `index` closest to `vector`: (doc_id, cosine), best first."""
        ...

    def changed(self, index: str) -> None:
        """This process committed embeddings of `index`: the next query must see them."""
        ...

    def forget(self) -> None:
        """Drop what is held in memory (the database was emptied or restored)."""
        ...


@dataclass(frozen=True)
class _Snapshot:
    """What a query scans: the first `size` rows of the buffers. Rows below `size` are never rewritten, only
    dropped (their id set to -1)."""

    vectors: np.ndarray  # (capacity, dim) float32
    ids: np.ndarray  # (capacity,) int64 doc ids, -1 where dropped
    size: int


class _Matrix:
    """The vectors of one search index made by one embedder."""

    def __init__(self, index: str, model: str, dim: int) -> None:
        self.index = index
        self.model = model
        self.dim = dim
        self.snapshot = _Snapshot(np.zeros((0, dim), np.float32), np.zeros(0, np.int64), 0)
        self.rows: dict[int, int] = {}  # doc id -> its live row
        self.versions: dict[int, datetime] = {}  # doc id -> updated_at of its live row
        self.dropped = 0
        self.read_from: datetime | None = None  # the stamp from which the next refresh reads
        self.loaded = False
        self.stale = True
        self.checked_at = 0.0
        self.reconciled_at = time.monotonic()
        self.lock = threading.Lock()  # held by whoever refreshes; queries never take it

    # --- reading ------------------------------------------------------------------------------------------

    def nearest(self, vector: np.ndarray, k: int, among: Collection[int] | None) -> list[tuple[int, float]]:
        snapshot = self.snapshot
        if among is not None and len(among) * SCAN_RATIO < snapshot.size:
            positions = self._positions(snapshot, among)
            return _top(snapshot.ids[positions], snapshot.vectors[positions] @ vector, k)
        ids = snapshot.ids[: snapshot.size]
        scores = snapshot.vectors[: snapshot.size] @ vector
        if among is not None:
            wanted = np.fromiter((doc_id for doc_id in among if 0 < doc_id < 2**63), dtype=np.int64)
            scores[~np.isin(ids, wanted)] = -np.inf
        elif self.dropped:
            scores[ids < 0] = -np.inf
        return _top(ids, scores, k)

    def _positions(self, snapshot: _Snapshot, among: Collection[int]) -> np.ndarray:
        rows = self.rows
        pairs = [
            (row, doc_id) for doc_id in set(among) if (row := rows.get(doc_id)) is not None and row < snapshot.size
        ]
        positions = np.fromiter((row for row, _doc_id in pairs), dtype=np.int64, count=len(pairs))
        wanted = np.fromiter((doc_id for _row, doc_id in pairs), dtype=np.int64, count=len(pairs))
        # A refresh may have dropped or moved a row since the lookup: keep the rows still holding their doc.
        return positions[snapshot.ids[positions] == wanted]

    # --- writing (the caller holds `lock`) ----------------------------------------------------------------

    def put(self, doc_ids: list[int], vectors: np.ndarray, versions: list[datetime]) -> None:
        if not doc_ids:
            return
        snapshot = self._with_room(len(doc_ids))
        start, end = snapshot.size, snapshot.size + len(doc_ids)
        snapshot.vectors[start:end] = vectors
        snapshot.ids[start:end] = doc_ids
        self.snapshot = _Snapshot(snapshot.vectors, snapshot.ids, end)
        for offset, (doc_id, version) in enumerate(zip(doc_ids, versions, strict=True)):
            self._drop_row(doc_id)
            self.rows[doc_id] = start + offset
            self.versions[doc_id] = version
        if self.dropped > max(MIN_CAPACITY, end // 4):
            self._compact()

    def keep_only(self, live: set[int]) -> None:
        for doc_id in [doc_id for doc_id in self.rows if doc_id not in live]:
            self._drop_row(doc_id)
            self.versions.pop(doc_id, None)
        if self.dropped:
            self._compact()

    def fresh(self, interval: float) -> bool:
        return self.loaded and not self.stale and time.monotonic() - self.checked_at < interval

    def reserve(self, rows: int) -> None:
        """Room for `rows` more without growing (the first load knows its count: no spare quarter)."""
        self._with_room(rows, growth=1.0)

    def is_current(self, doc_id: int, version: datetime) -> bool:
        return self.versions.get(doc_id) == version

    def _drop_row(self, doc_id: int) -> None:
        row = self.rows.pop(doc_id, None)
        if row is not None:
            self.snapshot.ids[row] = -1
            self.dropped += 1

    def _with_room(self, extra: int, growth: float = GROWTH) -> _Snapshot:
        snapshot = self.snapshot
        if snapshot.size + extra <= len(snapshot.ids):
            return snapshot
        capacity = max(MIN_CAPACITY, int((snapshot.size + extra) * growth))
        vectors = np.empty((capacity, self.dim), np.float32)
        ids = np.full(capacity, -1, np.int64)
        vectors[: snapshot.size] = snapshot.vectors[: snapshot.size]
        ids[: snapshot.size] = snapshot.ids[: snapshot.size]
        self.snapshot = _Snapshot(vectors, ids, snapshot.size)
        return self.snapshot

    def _compact(self) -> None:
        snapshot = self.snapshot
        live = np.flatnonzero(snapshot.ids[: snapshot.size] >= 0)
        capacity = max(MIN_CAPACITY, int(len(live) * GROWTH))
        vectors = np.empty((capacity, self.dim), np.float32)
        ids = np.full(capacity, -1, np.int64)
        vectors[: len(live)] = snapshot.vectors[live]
        ids[: len(live)] = snapshot.ids[live]
        self.rows = {int(doc_id): row for row, doc_id in enumerate(ids[: len(live)])}
        self.snapshot = _Snapshot(vectors, ids, len(live))
        self.dropped = 0


class MemoryVectorIndex:
    """Exact cosine search over in-memory matrices read from `search_embedding` (see the module's text)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._matrices: dict[tuple[str, str], _Matrix] = {}
        self._lock = threading.Lock()
        _instances.add(self)

    def nearest(
        self, session: Session, index: str, vector: np.ndarray, k: int, *, among: Collection[int] | None = None
    ) -> list[tuple[int, float]]:
        if k <= 0 or (among is not None and not among):
            return []
        matrix = self._matrix(index)
        self._refresh(matrix)
        return matrix.nearest(np.asarray(vector, dtype=np.float32), k, among)

    def changed(self, index: str) -> None:
        for (matrix_index, _model), matrix in list(self._matrices.items()):
            if matrix_index == index:
                matrix.stale = True

    def forget(self) -> None:
        with self._lock:
            self._matrices = {}

    def _matrix(self, index: str) -> _Matrix:
        model = embedder()
        key = (index, model.name)
        matrix = self._matrices.get(key)
        if matrix is None:
            with self._lock:
                matrix = self._matrices.setdefault(key, _Matrix(index, model.name, model.dim))
        return matrix

    def _refresh(self, matrix: _Matrix) -> None:
        interval = self.runtime.settings.search_vector_refresh_ms / 1000
        if matrix.fresh(interval):
            return
        # The first load waits; later, a query finding a refresh under way answers from the current matrix.
        if not matrix.lock.acquire(blocking=not matrix.loaded):
            return
        try:
            if matrix.fresh(interval):  # loaded by the thread this one waited for
                return
            matrix.stale = False  # before reading: a commit landing during the read marks it again
            matrix.checked_at = time.monotonic()
            self.runtime.db.read(lambda connection: _read_changes(connection, matrix))
            matrix.loaded = True
            if time.monotonic() - matrix.reconciled_at >= self.runtime.settings.search_vector_reconcile_seconds:
                self.runtime.db.read(lambda connection: _reconcile(connection, matrix))
                matrix.reconciled_at = time.monotonic()
        finally:
            matrix.lock.release()


_instances: weakref.WeakSet[MemoryVectorIndex] = weakref.WeakSet()


def vector_index() -> VectorIndex:
    """The runtime's vector index."""
    return get_runtime().extension("search.vector_index", MemoryVectorIndex)


def forget_all() -> None:
    """Every vector index of this process drops its matrices."""
    for instance in list(_instances):
        instance.forget()


def _read_changes(connection: Connection, matrix: _Matrix) -> None:
    query = _vectors_of(matrix)
    started = utcnow()
    if matrix.read_from is not None:
        query = query.where(SearchEmbedding.updated_at >= matrix.read_from)
    else:
        total = connection.execute(
            select(func.count()).where(SearchEmbedding.index == matrix.index, SearchEmbedding.model == matrix.model)
        ).scalar_one()
        matrix.reserve(total)
    result = connection.execution_options(stream_results=True, yield_per=LOAD_BATCH).execute(query)
    for batch in result.partitions():
        _put(matrix, batch)
    matrix.read_from = started - REFRESH_OVERLAP


def _reconcile(connection: Connection, matrix: _Matrix) -> None:
    """Drop the vectors of documents gone from the index, and read any the refreshes missed (a writer whose
    transaction outlasted the overlap, or whose clock lags this process's by more)."""
    stamps = connection.execute(
        select(SearchEmbedding.doc_id, SearchEmbedding.updated_at).where(
            SearchEmbedding.index == matrix.index,
            SearchEmbedding.model == matrix.model,
            SearchEmbedding.dim == matrix.dim,
        )
    )
    live = {doc_id: version for doc_id, version in stamps}
    matrix.keep_only(set(live))
    behind = [doc_id for doc_id, version in live.items() if not matrix.is_current(doc_id, version)]
    for start in range(0, len(behind), RECONCILE_BATCH):
        chunk = behind[start : start + RECONCILE_BATCH]
        _put(matrix, connection.execute(_vectors_of(matrix).where(SearchEmbedding.doc_id.in_(chunk))).all())


def _vectors_of(matrix: _Matrix) -> Select[int, bytes, datetime]:
    return select(SearchEmbedding.doc_id, SearchEmbedding.vector, SearchEmbedding.updated_at).where(
        SearchEmbedding.index == matrix.index,
        SearchEmbedding.model == matrix.model,
        SearchEmbedding.dim == matrix.dim,
    )


def _put(matrix: _Matrix, rows: Iterable[Row[int, bytes, datetime]]) -> None:
    width = matrix.dim * 4
    fresh = [
        (doc_id, vector, version)
        for doc_id, vector, version in rows
        if len(vector) == width and not matrix.is_current(doc_id, version)
    ]
    if not fresh:
        return
    vectors = np.frombuffer(b"".join(vector for _doc_id, vector, _version in fresh), dtype="<f4")
    matrix.put(
        [doc_id for doc_id, _vector, _version in fresh],
        vectors.reshape(len(fresh), matrix.dim),
        [version for _doc_id, _vector, version in fresh],
    )


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    candidates = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
    # Best score first; equal scores by doc id, so a page is the same on every call.
    order = candidates[np.lexsort((ids[candidates], -scores[candidates]))]
    return [(int(ids[row]), float(scores[row])) for row in order if ids[row] >= 0 and scores[row] > -np.inf]
