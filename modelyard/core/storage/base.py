"""The file storage interface: one small API over a local directory or an S3-compatible bucket.

Keys are relative POSIX paths (`models/12/v3/model.safetensors`). Every method is synchronous: storage is used
from request threads and from jobs, and large transfers stream in chunks with constant memory.
"""

from __future__ import annotations

import io
import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from urllib.parse import quote

from modelyard.core.errors import BadRequest

CHUNK_SIZE = 1024 * 1024
MAX_KEY_BYTES = 1024
# Segments become file names on the local backend; most file systems stop at 255 bytes.
MAX_SEGMENT_BYTES = 255
MAX_PART_NUMBER = 10_000
MAX_URL_TTL = 7 * 24 * 3600
# S3 refuses smaller non-last parts; the local backend refuses them too, so a client that works against one
# backend works against the other.
MIN_PART_SIZE = 5 * 1024 * 1024
# S3's limit for one PUT, whole object or part.
MAX_PUT_SIZE = 5 * 1024 * 1024 * 1024

# C0 controls, DEL and C1 controls: invisible in logs and headers, and some are illegal in file names.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str
    modified: datetime
    content_type: str | None


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative POSIX path, else raise `BadRequest`.

    Segments may not start with a dot: besides `.` and `..`, that reserves hidden names for the local
    backend's temporary files and its `.multipart/` directory, so no key can collide with them.
    """
    if not isinstance(key, str) or not key:
        raise BadRequest("storage key must be a non-empty string")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise BadRequest(f"storage key is longer than {MAX_KEY_BYTES} bytes")
    if _CONTROL_CHARS.search(key):
        raise BadRequest("storage key contains control characters")
    if "\\" in key:
        raise BadRequest("storage key contains a backslash")
    if key.startswith("/"):
        raise BadRequest("storage key must be relative (no leading '/')")
    for segment in key.split("/"):
        if not segment:
            raise BadRequest("storage key has an empty path segment")
        if segment.startswith("."):
            raise BadRequest("storage key segments may not start with '.' ('..' and hidden names)")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise BadRequest(f"storage key segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def validate_part_number(part_number: int) -> int:
    if not isinstance(part_number, int) or not 1 <= part_number <= MAX_PART_NUMBER:
        raise BadRequest(f"part number must be between 1 and {MAX_PART_NUMBER}")
    return part_number


def validate_parts_list(parts: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The part list of a completion: non-empty, strictly ascending part numbers (as S3 requires)."""
    if not parts:
        raise BadRequest("a multipart upload needs at least one part to complete")
    numbers = [validate_part_number(number) for number, _ in parts]
    if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
        raise BadRequest("parts must be listed in strictly ascending part number order")
    return parts


def validate_upload_size(size: int) -> int:
    """The exact byte count an upload URL is signed for: one PUT takes 0 bytes to 5 GiB (S3's limit)."""
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_PUT_SIZE:
        raise BadRequest(f"an upload's size must be between 0 and {MAX_PUT_SIZE} bytes")
    return size


def resolve_ttl(expires_in: int | None, default: int) -> int:
    """Seconds a signed URL lives: `expires_in`, else the configured default; at most 7 days (S3's limit)."""
    ttl = default if expires_in is None else expires_in
    if not isinstance(ttl, int) or not 1 <= ttl <= MAX_URL_TTL:
        raise BadRequest(f"URL lifetime must be between 1 and {MAX_URL_TTL} seconds")
    return ttl


def normalize_etag(etag: str) -> str:
    """ETags without the quotes and weak prefix HTTP wraps them in, so they compare as plain strings."""
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / RFC 8187)."""
    if not filename or _CONTROL_CHARS.search(filename):
        raise BadRequest("download file name must be non-empty and free of control characters")
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\/;' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def iter_chunks(data: bytes | BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Chunks of `data`, reading file objects piecewise so memory stays constant."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])
        return
    while chunk := data.read(chunk_size):
        yield chunk


class Storage(ABC):
    """Where files live. Keys are validated by `validate_key`; failures raise `modelyard.core.errors`."""

    name: str

    # --- objects ---------------------------------------------------------------------------------------
    @abstractmethod
    def save(self, key: str, data: bytes | BinaryIO, *, content_type: str | None = None) -> StoredObject:
        """Store `data` under `key`, replacing any object there; a failed save leaves no partial object."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A streaming reader of the object; the caller closes it. `NotFound` if missing."""

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as reader:
            return reader.read()

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Up to `length` bytes from offset `start` (fewer at the end of the object)."""
        if start < 0 or length < 0:
            raise BadRequest("a byte range starts and runs at or after zero")
        with self.open(key) as reader:
            if reader.seekable():
                reader.seek(start)
            else:
                skip = start
                while skip and (chunk := reader.read(min(skip, CHUNK_SIZE))):
                    skip -= len(chunk)
            return reader.read(length)

    @abstractmethod
    def stat(self, key: str) -> StoredObject | None:
        """The object's metadata, or None if there is none under `key`."""

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    @abstractmethod
    def move(self, source: str, target: str) -> None:
        """Move the object under `source` to `target`, replacing any object there; the URLs made for `source` stop
        working. Safe to repeat: with `source` gone and `target` there, it was moved already. `NotFound` when
        neither exists."""

    @abstractmethod
    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with `prefix` (a plain string prefix, as in S3), in lexicographic order."""

    # --- URLs ------------------------------------------------------------------------------------------
    @abstractmethod
    def download_url(self, key: str, *, filename: str | None = None, expires_in: int | None = None) -> str:
        """A short-lived GET URL; with `filename`, it is served as an attachment of that name."""

    @abstractmethod
    def upload_url(self, key: str, *, size: int, expires_in: int | None = None, content_type: str | None = None) -> str:
        """A short-lived PUT URL for exactly `size` bytes (a longer or shorter body is refused and nothing is kept);
        with `content_type`, the upload must send that `Content-Type`."""

    # --- multipart -------------------------------------------------------------------------------------
    @abstractmethod
    def create_multipart(self, key: str) -> str:
        """Start a multipart upload to `key`; returns its upload id."""

    @abstractmethod
    def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes | BinaryIO) -> str:
        """Store one part (1..10000; re-uploading a number replaces it); returns its ETag."""

    @abstractmethod
    def part_upload_url(
        self, key: str, upload_id: str, part_number: int, *, size: int, expires_in: int | None = None
    ) -> str:
        """A short-lived PUT URL for one part of exactly `size` bytes (any other length is refused and nothing is
        kept); the response carries the part's ETag."""

    @abstractmethod
    def list_parts(self, key: str, upload_id: str) -> list[tuple[int, str, int]]:
        """(part number, ETag, size) of the parts received so far, so a client can resume."""

    @abstractmethod
    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> StoredObject:
        """Join `parts` (part number, ETag), in ascending order, into the object under `key`."""

    @abstractmethod
    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; an unknown upload is not an error."""

    # --- health ----------------------------------------------------------------------------------------
    @abstractmethod
    def check(self) -> None:
        """Raise `ServiceUnavailable("storage: <why>")` if the storage cannot be used."""


class RangeReader(io.RawIOBase):
    """A seekable, read-only view of a stored object through `read_range`, for readers that jump about (a zip's
    central directory at the end, a header at the start) without fetching the bytes between. Wrap it in
    `io.BufferedReader` to batch small reads."""

    def __init__(self, storage: Storage, key: str, size: int) -> None:
        self._storage, self._key, self._size, self._position = storage, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._position >= self._size:
            return 0
        data = self._storage.read_range(self._key, self._position, min(len(buffer), self._size - self._position))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)
