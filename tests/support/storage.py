"""A real storage that can be paused mid-read, to see what the rest of the system does while a job is busy with a
file (hashing, converting, scanning): `paused_mid_read` runs the job on a thread with a `PausingStorage` installed
on a copy of the runtime, and the `with` block runs while the job waits at its first read of the file."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from modelyard.core.runtime import Runtime, set_runtime

PAUSE_LIMIT = 60.0  # a test that forgets to release its pause fails instead of hanging


@contextmanager
def paused_mid_read(runtime: Runtime, key: str, work: Callable[[Runtime], object]) -> Iterator[None]:
    """Run `work(paused_runtime)` on a thread; the block runs once it has reached its first read of `key`. On
    leaving, the read goes on and the work is waited for; the runtime is the test's own again."""
    pausing = PausingStorage(runtime.storage, key_part=key)
    paused = dataclasses.replace(runtime, storage=pausing)
    worker = threading.Thread(target=work, args=(paused,))
    set_runtime(paused)
    try:
        worker.start()
        assert pausing.reached.wait(30), f"the work never read {key}"
        yield
    finally:
        pausing.release.set()
        worker.join(60)
        set_runtime(runtime)


class PausingStorage:
    """Delegates everything to `inner`; the first `open` of `key_part` gives a reader that stops at its first read
    (setting `reached`) until `release` is set. Only `open` pauses: stat, ranges and writes go straight through."""

    def __init__(self, inner: Any, key_part: str = "") -> None:
        self._inner = inner
        self._key_part = key_part
        self.reached = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open(self, key: str) -> BinaryIO:
        reader = self._inner.open(key)
        if self._key_part not in key or self.reached.is_set():
            return reader  # type: ignore[no-any-return]
        return _PausedReader(reader, self)  # type: ignore[return-value]


class _PausedReader:
    def __init__(self, inner: BinaryIO, storage: PausingStorage) -> None:
        self._inner = inner
        self._storage = storage
        self._waited = False

    def read(self, size: int = -1) -> bytes:
        if not self._waited:
            self._waited = True
            self._storage.reached.set()
            if not self._storage.release.wait(PAUSE_LIMIT):
                raise TimeoutError("the test never released the paused read")
        return self._inner.read(size)

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> _PausedReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
