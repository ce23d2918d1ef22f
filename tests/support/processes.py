"""Starting real `modelyard` processes for tests, with the test installation's settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def start_modelyard(args: list[str], log_path: Path, **env_overrides: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env_overrides}
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "modelyard", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill_hard(process)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def wait_started(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], *, name: str, log_path: Path, timeout: float = 60.0
) -> None:
    """Wait until `ready()`; a process that exits or stays unready past `timeout` is stopped, with its log shown."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            log = log_path.read_text(errors="replace") if log_path.exists() else "(no log)"
            raise RuntimeError(f"{name} did not start:\n{log[-3000:]}")
        time.sleep(0.05)
