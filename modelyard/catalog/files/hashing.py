"""The six file hashes Civitai publishes, computed in one pass over the bytes (reference: civitai.md §2).

`FileHasher` takes chunks as they come (an upload being copied); `hash_stream` reads a whole file itself and
overlaps reading with hashing on worker threads, for files already stored.

| AutoV1 | SHA-256 of the (up to) 64 KiB at offset 1 MiB, 8 hex, for every file: a file of 1 MiB or less has no
  bytes there, so its AutoV1 is the SHA-256 of nothing, E3B0C442 (A1111's "model hash", which Civitai always sends;
  strict clients require the key) |
| AutoV2 | the first 10 hex of SHA256 |
| AutoV3 | SHA-256 after a safetensors header (8-byte length + JSON), 12 hex |
| SHA256, BLAKE3 | of the whole file |
| CRC32 | zlib's CRC-32 with its four bytes little-endian, as Civitai's scanner prints it |
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO

import blake3

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

from modelyard.catalog.enums import HashType

_V1_START, _V1_LEN = 0x100000, 0x10000
# The AutoV1 of every file of 1 MiB or less (the SHA-256 of no bytes): it names no file, so lookups skip it.
EMPTY_AUTOV1 = hashlib.sha256(b"").hexdigest().upper()[:8]
_V3_HEADER_LIMIT = 16 * 1024 * 1024
STREAM_BUFFER = 8 * 1024 * 1024
STREAM_BUFFERS = 4  # in flight at once: reading runs up to three buffers ahead of the slowest hash


class FileHasher:
    """Feed chunks in order with `update`, then `digests()`."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._blake3 = blake3.blake3()
        self._crc = 0
        self._v1 = hashlib.sha256()
        self._v3 = hashlib.sha256()
        self._size = 0
        self._head = b""  # the first 8 bytes, until known
        self._v3_from: int | None = None

    @property
    def size(self) -> int:
        return self._size

    def update(self, chunk: bytes) -> None:
        if not chunk:
            return
        start, end = self._size, self._size + len(chunk)
        self._sha256.update(chunk)
        self._blake3.update(chunk)
        self._crc = zlib.crc32(chunk, self._crc)
        lo, hi = max(start, _V1_START), min(end, _V1_START + _V1_LEN)
        if lo < hi:
            self._v1.update(chunk[lo - start : hi - start])
        if self._v3_from is None:
            self._head += chunk[: max(0, 8 - start)]
            if len(self._head) == 8:
                self._v3_from = _v3_start(self._head)
        if self._v3_from is not None and end > self._v3_from:
            self._v3.update(chunk[max(0, self._v3_from - start) :])
        self._size = end

    def digests(self) -> dict[HashType, str]:
        return _digests(self._sha256, self._v1, self._v3, self._blake3, self._crc)


def hash_chunks(chunks: Iterable[bytes]) -> tuple[dict[HashType, str], int]:
    hasher = FileHasher()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.digests(), hasher.size


def hash_stream(reader: BinaryIO, *, buffer_size: int = STREAM_BUFFER) -> tuple[dict[HashType, str], int]:
    """The six hashes and the size of everything `reader` holds, in one pass: this thread reads while three
    worker threads hash (SHA-256; AutoV3's SHA-256; BLAKE3, CRC32 and AutoV1), each taking the buffers in order.
    hashlib, zlib and blake3 release the GIL on large buffers, so the work spreads over the cores; memory stays
    at `STREAM_BUFFERS` buffers whatever the size of the file."""
    buffers = [bytearray(buffer_size) for _ in range(STREAM_BUFFERS)]
    first = _fill(reader, buffers[0])
    v3_from = _v3_start(bytes(buffers[0][:8])) if first >= 8 else None
    sha256, v1, v3, blake = hashlib.sha256(), hashlib.sha256(), hashlib.sha256(), blake3.blake3()
    crc = 0

    def whole(view: memoryview, start: int) -> None:
        sha256.update(view)

    def after_header(view: memoryview, start: int) -> None:
        if v3_from is not None and start + len(view) > v3_from:
            v3.update(view[max(0, v3_from - start) :])

    def the_rest(view: memoryview, start: int) -> None:
        nonlocal crc
        blake.update(view)
        crc = zlib.crc32(view, crc)
        lo, hi = max(start, _V1_START), min(start + len(view), _V1_START + _V1_LEN)
        if lo < hi:
            v1.update(view[lo - start : hi - start])

    size = _pipeline(reader, buffers, first, [whole, after_header, the_rest])
    return _digests(sha256, v1, v3, blake, crc), size


def _pipeline(
    reader: BinaryIO, buffers: list[bytearray], first: int, lanes: list[Callable[[memoryview, int], None]]
) -> int:
    """Feed every buffer to every lane, each lane on its own thread (so in order); returns the bytes read."""
    executors = [ThreadPoolExecutor(1, thread_name_prefix="hash") for _ in lanes]
    in_flight: deque[tuple[bytearray, list[Future[None]]]] = deque()
    size, length, buffer = 0, first, buffers[0]
    spare = buffers[1:]
    try:
        while length:
            view = memoryview(buffer)[:length]
            in_flight.append((buffer, [ex.submit(lane, view, size) for ex, lane in zip(executors, lanes, strict=True)]))
            size += length
            if length < len(buffer):
                break  # a short fill is the end of the stream
            if not spare:
                done, futures = in_flight.popleft()
                for future in futures:
                    future.result()  # re-raises a lane's error
                spare.append(done)
            buffer = spare.pop()
            length = _fill(reader, buffer)
        for _, futures in in_flight:
            for future in futures:
                future.result()
    finally:
        for executor in executors:
            executor.shutdown(wait=True, cancel_futures=True)
    return size


def _fill(reader: BinaryIO, buffer: bytearray) -> int:
    """Read until `buffer` is full or the stream ends; returns the bytes read."""
    view, filled = memoryview(buffer), 0
    readinto = getattr(reader, "readinto", None)
    while filled < len(buffer):
        if readinto is not None:
            count = readinto(view[filled:])
        else:
            chunk = reader.read(len(buffer) - filled)
            count = len(chunk)
            view[filled : filled + count] = chunk
        if not count:
            break
        filled += count
    return filled


def _v3_start(head: bytes) -> int:
    (header_length,) = struct.unpack("<Q", head[:8])
    return 8 + header_length if header_length < _V3_HEADER_LIMIT else 8


def _digests(sha256: Hash, v1: Hash, v3: Hash, blake: blake3.blake3, crc: int) -> dict[HashType, str]:
    whole = sha256.hexdigest().upper()
    return {
        HashType.SHA256: whole,
        HashType.AutoV1: v1.hexdigest().upper()[:8],
        HashType.AutoV2: whole[:10],
        HashType.AutoV3: v3.hexdigest().upper()[:12],
        HashType.CRC32: struct.pack("<I", crc & 0xFFFFFFFF).hex().upper(),
        HashType.BLAKE3: blake.hexdigest().upper(),
    }
