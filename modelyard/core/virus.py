"""Virus scanning with ClamAV: a small client of clamd's INSTREAM command, streaming a stored file in chunks.

The protocol (clamd(8)): send `zINSTREAM\\0`, then the data as chunks each prefixed by its length as a 4-byte
big-endian integer, then a zero length. clamd answers one NUL-terminated line: `stream: OK`,
`stream: <signature> FOUND`, or `<reason> ERROR`. When the stream passes clamd's `StreamMaxLength` it answers
`INSTREAM size limit exceeded. ERROR` and closes the connection without reading the rest.
"""

from __future__ import annotations

import enum
import socket
import struct
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1024 * 1024
CONNECT_TIMEOUT = 5.0
# clamd scans once the whole stream has arrived; a multi-gigabyte file takes a while.
REPLY_TIMEOUT = 600.0
MAX_REPLY = 64 * 1024
SIZE_LIMIT_MESSAGE = (
    "This file is larger than the virus scanner accepts: raise StreamMaxLength in clamd.conf (and MaxFileSize "
    "and MaxScanSize, or clamd skips the part past them) above the largest model file, then rescan"
)


class ClamdUnavailable(Exception):
    """clamd could not be reached or hung up without an answer; the scan is worth retrying later."""


class Verdict(enum.Enum):
    CLEAN = "clean"
    INFECTED = "infected"
    UNSCANNABLE = "unscannable"  # clamd read the file and could not judge it (too large, malformed)


@dataclass(frozen=True)
class VirusScan:
    verdict: Verdict
    message: str


def parse_address(address: str) -> tuple[int, str | tuple[str, int]]:
    """(socket family, address) of `/path/to/clamd.ctl`, `unix:///path` or `tcp://host:port`; ValueError if bad."""
    if address.startswith("tcp://"):
        host, _, port = address.removeprefix("tcp://").rstrip("/").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"clamd address {address!r} must look like tcp://host:3310")
        return socket.AF_INET6 if host.startswith("[") else socket.AF_INET, (host.strip("[]"), int(port))
    path = address.removeprefix("unix://")
    if not path.startswith("/"):
        raise ValueError(f"clamd address {address!r} must be an absolute socket path or tcp://host:port")
    return socket.AF_UNIX, path


class Clamd:
    """One connection per command, as clamd expects without IDSESSION."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._family, self._target = parse_address(address)

    def ping(self) -> None:
        """Raise `ClamdUnavailable` unless clamd answers PONG."""
        with self._connect() as connection:
            connection.sendall(b"zPING\0")
            reply = _read_reply(connection)
        if reply != "PONG":
            raise ClamdUnavailable(f"clamd at {self.address} answered PING with {reply!r}")

    def scan(self, reader: BinaryIO) -> VirusScan:
        """Stream `reader` to clamd, holding one chunk in memory; `ClamdUnavailable` when it cannot answer."""
        with self._connect() as connection:
            try:
                connection.sendall(b"zINSTREAM\0")
                while chunk := reader.read(CHUNK):
                    connection.sendall(struct.pack(">I", len(chunk)))
                    connection.sendall(chunk)
                connection.sendall(struct.pack(">I", 0))
            except (BrokenPipeError, ConnectionResetError):
                pass  # clamd stopped reading (size limit): its reply says why
            except OSError as exc:
                raise ClamdUnavailable(f"clamd at {self.address}: sending failed ({exc})") from exc
            return _verdict(_read_reply(connection), self.address)

    def _connect(self) -> socket.socket:
        connection = socket.socket(self._family, socket.SOCK_STREAM)
        connection.settimeout(CONNECT_TIMEOUT)
        try:
            connection.connect(self._target)
        except OSError as exc:
            connection.close()
            raise ClamdUnavailable(f"clamd at {self.address} cannot be reached ({exc})") from exc
        connection.settimeout(REPLY_TIMEOUT)
        return connection


def _read_reply(connection: socket.socket) -> str:
    reply = b""
    try:
        while not reply.endswith(b"\0") and len(reply) < MAX_REPLY:
            data = connection.recv(4096)
            if not data:
                break
            reply += data
    except OSError as exc:
        if not reply:
            raise ClamdUnavailable(f"clamd hung up without an answer ({exc})") from exc
    return reply.rstrip(b"\0").decode("utf-8", "replace").strip()


def _verdict(reply: str, address: str) -> VirusScan:
    if reply == "stream: OK":
        return VirusScan(Verdict.CLEAN, "No virus found")
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        signature = reply.removeprefix("stream: ").removesuffix(" FOUND")
        return VirusScan(Verdict.INFECTED, f"The virus scanner found {signature}")
    if reply.startswith("INSTREAM size limit exceeded"):
        return VirusScan(Verdict.UNSCANNABLE, SIZE_LIMIT_MESSAGE)
    if reply.endswith(" ERROR"):
        reason = reply.removeprefix("stream: ").removesuffix(" ERROR")
        return VirusScan(Verdict.UNSCANNABLE, f"The virus scanner could not scan this file: {reason}")
    # Empty or unknown: clamd died or restarted mid-scan; not a verdict on the file.
    raise ClamdUnavailable(f"clamd at {address} gave no verdict (answered {reply[:200]!r})")
