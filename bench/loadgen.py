"""A small HTTP/1.1 keep-alive load generator on asyncio streams, for benchmarks against a local server.

N connections each send GET requests for a list of paths round-robin, one request in flight per connection,
for a warm-up then a measured window. Only requests that complete inside the window count: their number
gives requests/s and their times give the latency percentiles. Loopback only, bounded in connections and
time. Run it in its own process (`measure()` does) so it never shares the server's GIL:

    python -m bench.loadgen --port 8000 --connections 32 --warmup 3 --duration 10 /api/users/alice
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.harness import pin_hook

MAX_CONNECTIONS = 1024
MAX_SECONDS = 600.0
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
GRACE_SECONDS = 5.0
RECONNECT_PAUSE_SECONDS = 0.05


class ProtocolError(Exception):
    """The server sent something this client cannot read as an HTTP/1.1 response."""


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    connections: int
    completed_total: int  # warm-up included: to divide the server's CPU time by
    error_samples: list[str] = field(default_factory=list)


@dataclass
class _Window:
    """Shared clock and tallies of one run; the event loop is single-threaded, so no locking is needed."""

    measure_start: float
    measure_end: float
    expect_status: int | None = None  # None: any 2xx
    latencies: list[float] = field(default_factory=list)
    completed_total: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def in_window(self, now: float) -> bool:
        return self.measure_start <= now < self.measure_end

    def expected(self, status: int) -> bool:
        return 200 <= status < 300 if self.expect_status is None else status == self.expect_status

    def error(self, now: float, what: str) -> None:
        if self.in_window(now):
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(what)


def check_loopback(host: str) -> None:
    if host == "localhost":
        return
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the load generator only targets loopback addresses, not {host}")


def build_requests(host: str, port: int, paths: Sequence[str], extra_headers: Sequence[str] = ()) -> list[bytes]:
    if not paths:
        raise ValueError("no paths to request")
    for header in extra_headers:
        if ":" not in header or "\r" in header or "\n" in header:
            raise ValueError(f"not a header line: {header!r}")
    headers = f"Host: {host}:{port}\r\nUser-Agent: modelyard-bench\r\nAccept: */*\r\n"
    headers += "".join(f"{header}\r\n" for header in extra_headers)
    return [f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode() for path in paths]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the connection can be reused."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER_BYTES:
        raise ProtocolError("response headers too large")
    lines = head.split(b"\r\n")
    status_parts = lines[0].split(b" ", 2)
    if len(status_parts) < 2 or not status_parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"bad status line {lines[0][:80]!r}")
    status = int(status_parts[1])
    length = -1
    chunked = False
    keep_alive = status_parts[0] == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep_alive = value.strip().lower() == b"keep-alive"
    if chunked:
        await _read_chunked(reader)
    elif length > MAX_BODY_BYTES:
        raise ProtocolError("response body too large")
    elif length > 0:
        await reader.readexactly(length)
    elif length < 0 and status >= 200 and status not in (204, 304):
        # No length and not chunked: the body runs to the end of the connection.
        await reader.read(MAX_BODY_BYTES)
        keep_alive = False
    return status, keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            # Trailers, if any, end with an empty line.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return
        total += size
        if total > MAX_BODY_BYTES:
            raise ProtocolError("response body too large")
        await reader.readexactly(size + 2)


async def _connection(host: str, port: int, requests: list[bytes], offset: int, window: _Window) -> None:
    """One client: keeps a connection open and sends requests back to back until the window closes."""
    index = offset
    writer: asyncio.StreamWriter | None = None
    try:
        while time.perf_counter() < window.measure_end:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError as exc:
                    window.error(time.perf_counter(), f"connect: {exc!r}")
                    await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
                    continue
            request = requests[index % len(requests)]
            index += 1
            started = time.perf_counter()
            try:
                writer.write(request)
                status, keep_alive = await _read_response(reader)
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ProtocolError,
                ValueError,
            ) as exc:
                window.error(time.perf_counter(), f"socket: {exc!r}")
                _close(writer)
                writer = None
                continue
            finished = time.perf_counter()
            window.completed_total += 1
            if window.in_window(finished):
                window.latencies.append(finished - started)
                if not window.expected(status):
                    window.error(finished, f"status {status}")
            if not keep_alive:
                _close(writer)
                writer = None
    finally:
        if writer is not None:
            _close(writer)


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        writer.close()


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _summarise(window: _Window, connections: int) -> LoadResult:
    seconds = window.measure_end - window.measure_start
    ordered = sorted(window.latencies)
    count = len(ordered)
    return LoadResult(
        requests=count,
        errors=window.errors,
        seconds=round(seconds, 3),
        requests_per_second=round(count / seconds, 1),
        p50_ms=round(_percentile(ordered, 0.50) * 1000, 3),
        p90_ms=round(_percentile(ordered, 0.90) * 1000, 3),
        p99_ms=round(_percentile(ordered, 0.99) * 1000, 3),
        max_ms=round((ordered[-1] if ordered else 0.0) * 1000, 3),
        mean_ms=round((sum(ordered) / count if count else 0.0) * 1000, 3),
        connections=connections,
        completed_total=window.completed_total,
        error_samples=window.error_samples,
    )


async def run_load(
    host: str,
    port: int,
    paths: Sequence[str],
    *,
    connections: int = 32,
    warmup: float = 3.0,
    duration: float = 10.0,
    headers: Sequence[str] = (),
    expect_status: int | None = None,
) -> LoadResult:
    """Drive the server from this event loop; prefer `measure()`, which runs this in its own process. `headers`:
    lines (`Name: value`) sent with every request; `expect_status`: the one status that counts as success
    (a redirect, say), instead of any 2xx."""
    check_loopback(host)
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise ValueError(f"connections must be within 1..{MAX_CONNECTIONS}")
    if duration <= 0 or warmup < 0 or warmup + duration > MAX_SECONDS:
        raise ValueError(f"warm-up + duration must be positive and at most {MAX_SECONDS:.0f} s")
    requests = build_requests(host, port, paths, headers)
    now = time.perf_counter()
    window = _Window(measure_start=now + warmup, measure_end=now + warmup + duration, expect_status=expect_status)
    # Spread the clients over the path list so they do not all ask for the same thing at once.
    stride = max(1, len(requests) // connections)
    clients = [_connection(host, port, requests, i * stride, window) for i in range(connections)]
    tasks = [asyncio.ensure_future(client) for client in clients]
    # A request stuck past the window must not hold the run open: wait a grace period, then cancel.
    _done, pending = await asyncio.wait(tasks, timeout=warmup + duration + GRACE_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return _summarise(window, connections)


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_load_blocking(
    host: str,
    port: int,
    paths: Sequence[str],
    *,
    connections: int = 32,
    warmup: float = 3.0,
    duration: float = 10.0,
    headers: Sequence[str] = (),
    expect_status: int | None = None,
) -> LoadResult:
    loop = _new_event_loop()
    try:
        load = run_load(
            host,
            port,
            paths,
            connections=connections,
            warmup=warmup,
            duration=duration,
            headers=headers,
            expect_status=expect_status,
        )
        return loop.run_until_complete(load)
    finally:
        loop.close()


def measure(
    port: int,
    paths: Sequence[str],
    *,
    host: str = "127.0.0.1",
    connections: int = 32,
    warmup: float = 3.0,
    duration: float = 10.0,
    cpus: set[int] | None = None,
    headers: Sequence[str] = (),
    expect_status: int | None = None,
) -> LoadResult:
    """Run the load generator in a child process (optionally pinned to `cpus`) and return its result. `headers`:
    lines (`Name: value`) sent with every request; `expect_status`: the one status that counts as success."""
    check_loopback(host)
    args = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--host",
        host,
        "--port",
        str(port),
        "--connections",
        str(connections),
        "--warmup",
        str(warmup),
        "--duration",
        str(duration),
        "--paths-from-stdin",
        *(f"--header={header}" for header in headers),
        *([f"--expect-status={expect_status}"] if expect_status is not None else []),
    ]
    root = Path(__file__).resolve().parent.parent
    python_path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path}
    completed = subprocess.run(
        args,
        input="\n".join(paths),
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=warmup + duration + GRACE_SECONDS + 30,
        check=False,
        preexec_fn=pin_hook(cpus),
    )
    if completed.returncode != 0:
        detail = completed.stderr.strip()[-2000:]
        raise RuntimeError(f"load generator failed ({completed.returncode}): {detail}")
    return LoadResult(**json.loads(completed.stdout))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", help="request paths, used round-robin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--paths-from-stdin", action="store_true", help="read paths from stdin")
    parser.add_argument("--header", action="append", default=[], help="a header line sent with every request")
    parser.add_argument("--expect-status", type=int, help="the status that counts as success (default: any 2xx)")
    options = parser.parse_args(argv)
    paths = list(options.paths)
    if options.paths_from_stdin:
        paths += [line.strip() for line in sys.stdin if line.strip()]
    result = run_load_blocking(
        options.host,
        options.port,
        paths,
        connections=options.connections,
        warmup=options.warmup,
        duration=options.duration,
        headers=options.header,
        expect_status=options.expect_status,
    )
    json.dump(asdict(result), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
