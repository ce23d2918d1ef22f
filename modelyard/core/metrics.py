"""Prometheus metrics: request counts and latency per route, job outcomes, and queue and job-table gauges."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from modelyard.core.runtime import Runtime

log = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self._runtime_collector: _RuntimeCollector | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelyard_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelyard_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.job_runs = Counter(
            "modelyard_job_runs",
            "Job attempts finished by this process",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "modelyard_job_duration_seconds",
            "Time a job attempt ran",
            ["job"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def job_finished(self, job: str, outcome: str, seconds: float) -> None:
        self.job_runs.labels(job, outcome).inc()
        self.job_duration.labels(job).observe(seconds)

    def attach(self, runtime: Runtime) -> None:
        self._runtime_collector = _RuntimeCollector(runtime)
        self.registry.register(self._runtime_collector)

    def render(self) -> bytes:
        if not os.environ.get(MULTIPROCESS_ENV):
            return generate_latest(self.registry)
        # Several web processes (`serve --processes N`): every process writes its samples to files in the shared
        # directory, and whichever process is scraped sums them all.
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        if self._runtime_collector is not None:
            registry.register(self._runtime_collector)
        return generate_latest(registry)


def prepare_multiprocess_metrics(directory: Path) -> None:
    """Called by `modelyard serve` before it starts several web processes (they inherit the variable)."""
    if directory.exists():
        shutil.rmtree(directory)  # samples of a previous run's processes must not be added to this run's
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(directory)


class _RuntimeCollector(Collector):
    """Read at scrape time, from the database and the transport, so every process reports the same totals."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        from modelyard.core.jobs.service import count_by_status

        jobs = GaugeMetricFamily("modelyard_jobs", "Jobs in the job table by state", labels=["state"])
        try:
            with self.runtime.db.session() as session:
                for state, count in count_by_status(session).items():
                    jobs.add_metric([state], count)
            yield jobs
        except Exception:
            log.warning("metrics: could not count jobs", exc_info=True)
        depth = GaugeMetricFamily("modelyard_job_queue_depth", "Job messages waiting in the transport", labels=["kind"])
        try:
            depth.add_metric(["ready"], self.runtime.queue.depth())
            depth.add_metric(["scheduled"], self.runtime.queue.scheduled())
            yield depth
        except Exception:
            log.warning("metrics: could not read the queue depth", exc_info=True)
        cache = self.runtime.cache
        hits = CounterMetricFamily("modelyard_cache_hits", "Cache hits by layer", labels=["layer"])
        for layer, count in cache.hits.items():
            hits.add_metric([layer], count)
        yield hits
        yield CounterMetricFamily("modelyard_cache_misses", "Cache misses", value=cache.misses)
