"""Events between the processes of one machine, without Redis: a directory of Unix datagram sockets.

Every process of an installation that runs without Redis (each web process of `modelyard serve --processes N`,
a `modelyard worker`, a CLI command) binds one socket in `<data_dir>/run/events/` and hands what arrives to its
event bus; publishing sends the message to every other socket found there. So a cache invalidation made in one
process reaches the others in well under a millisecond (without this, each process kept serving what it had
cached until the entry expired).

A socket whose process died without removing it refuses messages; the sender removes it. A peer too busy to
drain its queue for `SEND_TIMEOUT` seconds misses the message, which is logged: what it had cached then lives
out its TTL, as every entry did before this channel existed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("modelyard.events")

SEND_TIMEOUT = 0.05
MAX_MESSAGE = 64 * 1024
PEERS_REFRESH_SECONDS = 1.0
_SUFFIX = ".sock"
_PATH_LIMIT = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


def channel_directory(data_dir: Path) -> Path:
    """Where an installation's processes put their sockets: under the data directory, or, when that path is too
    long for a socket address, under the system's temporary directory, named after the data directory."""
    preferred = data_dir.resolve() / "run" / "events"
    if len(str(preferred)) + 40 <= _PATH_LIMIT:
        return preferred
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"modelyard-events-{digest}"


class LocalChannel:
    """One process's end of the channel: `send` to every peer, `start(handler)` to receive."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"{os.getpid()}-{secrets.token_hex(4)}{_SUFFIX}"
        self._receiver: socket.socket | None = None
        self._sender: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._peers: list[str] = []
        self._peers_read_at = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- receiving --------------------------------------------------------------------------------------
    def start(self, handler: Callable[[bytes], None]) -> bool:
        """Bind this process's socket and hand each message to `handler` on a listener thread. False (logged)
        when the socket cannot be made: the process then works alone, as before this channel existed."""
        if self._thread is not None:
            return True
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            receiver.bind(str(self.path))
        except OSError:
            log.warning("no local event channel: other processes will not hear this one", exc_info=True)
            return False
        receiver.settimeout(0.2)
        self._receiver = receiver
        self._stop.clear()
        self._thread = threading.Thread(target=self._receive, args=(handler,), name="local-events", daemon=True)
        self._thread.start()
        return True

    def _receive(self, handler: Callable[[bytes], None]) -> None:
        receiver = self._receiver
        assert receiver is not None
        while not self._stop.is_set():
            try:
                message = receiver.recv(MAX_MESSAGE)
            except TimeoutError:
                continue
            except OSError:
                if not self._stop.is_set():
                    log.warning("local event channel closed unexpectedly", exc_info=True)
                return
            try:
                handler(message)
            except Exception:
                log.exception("local event handler failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for sock in (self._receiver, self._sender):
            if sock is not None:
                sock.close()
        self._receiver = self._sender = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # --- sending ----------------------------------------------------------------------------------------
    def send(self, message: bytes) -> None:
        """Send to every other process of the installation; never raises."""
        if len(message) > MAX_MESSAGE:
            log.warning("event too large for the local channel; other processes miss it", extra={"size": len(message)})
            return
        with self._send_lock:
            for peer in self._current_peers():
                self._send_to(peer, message)

    def _send_to(self, peer: str, message: bytes) -> None:
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.settimeout(SEND_TIMEOUT)  # a full peer queue blocks until drained, this long at most
        try:
            self._sender.sendto(message, peer)
        except (ConnectionRefusedError, FileNotFoundError):
            # Its process is gone (killed before removing its socket): forget it.
            with contextlib.suppress(OSError):
                os.unlink(peer)
            self._peers_read_at = 0.0
        except OSError:
            log.warning("a process missed an event (its queue stayed full)", extra={"peer": peer}, exc_info=True)

    def _current_peers(self) -> list[str]:
        now = time.monotonic()
        if now - self._peers_read_at > PEERS_REFRESH_SECONDS:
            own = str(self.path)
            try:
                names = os.listdir(self.directory)
            except FileNotFoundError:
                names = []
            peers = (str(self.directory / name) for name in names if name.endswith(_SUFFIX))
            self._peers = [peer for peer in peers if peer != own]
            self._peers_read_at = now
        return self._peers
