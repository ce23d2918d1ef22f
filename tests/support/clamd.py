"""A real ClamAV daemon for tests, loading only a signature of our own (the official database cannot be fetched
offline): any stream containing `MARKER` is reported as `Modelyard.Test.Marker.UNOFFICIAL FOUND`.

Debian's `clamav-daemon` package provides `/usr/sbin/clamd`; `scripts/ensure-system-packages.sh` installs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import stop, wait_started

CLAMD = Path("/usr/sbin/clamd")
MARKER = b"MODELYARD-TEST-MARKER-c1a7f00d-not-a-real-virus"
SIGNATURE_NAME = "Modelyard.Test.Marker.UNOFFICIAL"
STREAM_MAX_LENGTH = 2 * 1024 * 1024
MISSING = (
    f"{CLAMD} is missing: run scripts/ensure-system-packages.sh as root (Debian package clamav-daemon) "
    "for the ClamAV tests"
)


@dataclass
class ClamdProcess:
    process: subprocess.Popen[bytes]
    socket_path: Path
    log_path: Path

    @property
    def address(self) -> str:
        return str(self.socket_path)

    def stop(self) -> None:
        stop(self.process)


def start_clamd(directory: Path) -> ClamdProcess:
    """clamd in the foreground on a socket in `directory`, with a 2 MiB StreamMaxLength; skips without clamd."""
    if not os.access(CLAMD, os.X_OK):
        pytest.skip(MISSING)
    database = directory / "db"
    database.mkdir()
    # A body signature (.ndb): name, target type 0 (any file), offset * (anywhere), the bytes in hex.
    (database / "modelyard-test.ndb").write_text(f"Modelyard.Test.Marker:0:*:{MARKER.hex()}\n")
    socket_path, log_path = directory / "clamd.sock", directory / "clamd.log"
    config = directory / "clamd.conf"
    config.write_text(
        "\n".join(
            [
                f"LocalSocket {socket_path}",
                "Foreground yes",
                f"DatabaseDirectory {database}",
                f"TemporaryDirectory {directory}",
                f"LogFile {log_path}",
                f"StreamMaxLength {STREAM_MAX_LENGTH}",
                "",
            ]
        )
    )
    process = subprocess.Popen([str(CLAMD), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_started(process, lambda: _answers_ping(socket_path), name="clamd", log_path=log_path)
    return ClamdProcess(process, socket_path, log_path)


def _answers_ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as connection:
            connection.settimeout(2)
            connection.connect(str(path))
            connection.sendall(b"zPING\0")
            return connection.recv(16).startswith(b"PONG")
    except OSError:
        return False
