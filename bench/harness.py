"""What benchmarks share: ratios with goals, uvicorn server processes, CPU placement, a plain HTTP GET."""

from __future__ import annotations

import importlib.util
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Ratio:
    """One of our numbers over the same number of the baseline measured in the same run."""

    metric: str
    ours: float
    baseline: float
    ratio: float
    higher_is_better: bool
    goal: float | None
    passed: bool | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratio(metric: str, ours: float, baseline: float, *, higher_is_better: bool, goal: float | None = None) -> Ratio:
    """`goal` is a floor on the ratio when higher is better, a ceiling otherwise; None means report only."""
    value = ours / baseline if baseline else float("nan")
    passed = None
    if goal is not None:
        passed = value >= goal if higher_is_better else value <= goal
    return Ratio(metric, ours, baseline, round(value, 3), higher_is_better, goal, passed)


@dataclass(frozen=True)
class CpuPlan:
    """Server and load generator on different cores, so the client never steals the server's CPU time."""

    server: set[int] | None
    client: set[int] | None

    def describe(self) -> str:
        if self.server is None:
            return "not pinned"
        return f"server on CPU {sorted(self.server)}, load generator on CPU {sorted(self.client or ())}"


def cpu_plan() -> CpuPlan:
    if not hasattr(os, "sched_getaffinity"):
        return CpuPlan(None, None)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return CpuPlan(None, None)
    return CpuPlan({cpus[0]}, {cpus[1]})


def uvicorn_flags() -> list[str]:
    """The fastest event loop and HTTP parser uvicorn can use here (uvicorn[standard] ships both)."""
    flags = ["--no-access-log", "--log-level", "warning"]
    if importlib.util.find_spec("uvloop") is not None:
        flags += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools") is not None:
        flags += ["--http", "httptools"]
    return flags


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without its MODELYARD_* settings (so a developer's shell cannot change what
    is measured), plus `extra`, with this checkout importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODELYARD_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update(extra)
    return env


def http_get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def pin_hook(cpus: set[int] | None) -> Callable[[], None] | None:
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads together (Linux; 0.0 elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name may hold spaces; the fields after its closing parenthesis are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_cpu_seconds() -> float:
    """CPU time every process on the machine has used since boot (Linux; 0.0 elsewhere)."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    # user nice system idle iowait irq softirq: busy is all but idle and iowait.
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in first[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time of this process's finished and waited-for children (the load generator runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class UvicornServer:
    """`uvicorn --factory <factory>` in a child process, on a free loopback port, until `stop()`."""

    def __init__(
        self,
        name: str,
        factory: str,
        env: Mapping[str, str],
        *,
        ready_path: str,
        cpus: set[int] | None = None,
        extra_flags: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.port = free_port()
        self.ready_path = ready_path
        self._log = tempfile.TemporaryFile(prefix=f"bench-{name}-")  # noqa: SIM115 - closed by stop()
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *uvicorn_flags(),
            *extra_flags,
        ]
        self.process = subprocess.Popen(
            args,
            env=child_env(env),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=pin_hook(cpus),
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                status, _ = http_get(self.port, self.ready_path, timeout=2)
            except OSError:
                time.sleep(0.1)
                continue
            if status == 200:
                return
            raise RuntimeError(f"{self.name} server answered {status} on {self.ready_path}:\n{self.log_tail()}")
        raise RuntimeError(f"{self.name} server not ready after {READY_TIMEOUT_SECONDS:.0f} s:\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def log_tail(self, limit: int = 4000) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-limit:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> UvicornServer:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Durations:
    """How long each measurement runs; `make bench` uses the full set, `--quick` a smoke run."""

    warmup: float
    duration: float
    rounds: int

    @classmethod
    def from_env(cls, quick: bool) -> Durations:
        # Set by `python -m bench.run --warmup/--duration/--rounds`, read by every benchmark.
        default = cls(0.5, 2.0, 1) if quick else cls(3.0, 10.0, 3)
        return cls(
            warmup=float(os.environ.get("BENCH_WARMUP_SECONDS", default.warmup)),
            duration=float(os.environ.get("BENCH_DURATION_SECONDS", default.duration)),
            rounds=int(os.environ.get("BENCH_ROUNDS", default.rounds)),
        )
