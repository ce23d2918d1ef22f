"""Processes that run jobs: consumer threads inside `modelyard serve`, or a `modelyard worker` process."""

from __future__ import annotations

import logging
import threading

from huey.consumer import Consumer

from modelyard.core.jobs.runner import reap
from modelyard.core.runtime import Runtime

log = logging.getLogger("modelyard.jobs")


class _ThreadedConsumer(Consumer):
    def _set_signal_handlers(self) -> None:
        # Signals belong to the process's main thread (uvicorn or `modelyard worker`), which stops us.
        pass


class JobWorker:
    """huey consumer threads plus a reaper thread that recovers jobs whose worker died."""

    def __init__(self, runtime: Runtime, *, threads: int | None = None) -> None:
        self.runtime = runtime
        self.consumer = _ThreadedConsumer(
            runtime.queue.huey,
            workers=threads or runtime.settings.job_threads,
            worker_type="thread",
            periodic=True,
            initial_delay=0.05,
            max_delay=1.0,
        )
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_forever, name="job-reaper", daemon=True)

    def start(self) -> None:
        self.consumer.start()
        self._reaper.start()
        log.info(
            "job worker started",
            extra={"threads": self.consumer.workers, "transport": type(self.runtime.queue.huey).__name__},
        )

    def stop(self, *, graceful: bool = True) -> None:
        self._stop.set()
        self.consumer.stop(graceful=graceful)
        if self._reaper.is_alive():
            self._reaper.join(timeout=5)
        log.info("job worker stopped")

    def _reap_forever(self) -> None:
        interval = self.runtime.settings.job_reaper_interval_seconds
        while not self._stop.wait(interval):
            try:
                reap(self.runtime)
            except Exception:
                log.warning("reaper pass failed", exc_info=True)
