"""The six file hashes Civitai publishes, computed in one pass over the bytes (reference: civitai.md §2).

| AutoV1 | SHA-256 of the 64 KiB at offset 1 MiB, 8 hex; absent for files under 2 MiB |
| AutoV2 | the first 10 hex of SHA256 |
| AutoV3 | SHA-256 after a safetensors header (8-byte length + JSON), 12 hex |
| SHA256, BLAKE3 | of the whole file |
| CRC32 | zlib's CRC-32 with its four bytes little-endian, as Civitai's scanner prints it |
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable

import blake3

from modelyard.catalog.enums import HashType

_V1_START, _V1_LEN, _V1_MIN_SIZE = 0x100000, 0x10000, 0x200000
_V3_HEADER_LIMIT = 16 * 1024 * 1024


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
                (header_length,) = struct.unpack("<Q", self._head)
                self._v3_from = 8 + header_length if header_length < _V3_HEADER_LIMIT else 8
        if self._v3_from is not None and end > self._v3_from:
            self._v3.update(chunk[max(0, self._v3_from - start) :])
        self._size = end

    def digests(self) -> dict[HashType, str]:
        sha256 = self._sha256.hexdigest().upper()
        found = {
            HashType.SHA256: sha256,
            HashType.AutoV2: sha256[:10],
            HashType.AutoV3: self._v3.hexdigest().upper()[:12],
            HashType.CRC32: struct.pack("<I", self._crc & 0xFFFFFFFF).hex().upper(),
            HashType.BLAKE3: self._blake3.hexdigest().upper(),
        }
        if self._size >= _V1_MIN_SIZE:
            found[HashType.AutoV1] = self._v1.hexdigest().upper()[:8]
        return found


def hash_chunks(chunks: Iterable[bytes]) -> tuple[dict[HashType, str], int]:
    hasher = FileHasher()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.digests(), hasher.size
