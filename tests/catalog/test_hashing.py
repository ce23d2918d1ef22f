"""The threaded one-pass hasher (`hash_stream`) gives exactly what the chunk-by-chunk `FileHasher` gives, for any
size, any reader and any buffer size."""

from __future__ import annotations

import hashlib
import io
import random
import threading

import pytest

from modelyard.catalog.files.hashing import FileHasher, hash_chunks, hash_stream
from modelyard.catalog.files.safetensors import encode


class TrickleReader(io.RawIOBase):
    """Hands out at most 1000 bytes a call, like a socket: short reads are not the end of the stream."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self._stream.readinto(memoryview(buffer)[:1000])


class ReadOnly:
    """A reader with `read` and nothing else (some HTTP bodies)."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


class Failing(io.RawIOBase):
    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            raise OSError("disk gone")
        count = min(len(buffer), self._left)
        buffer[:count] = b"x" * count
        self._left -= count
        return count


def serial(data: bytes) -> tuple[dict, int]:  # type: ignore[type-arg]
    hasher = FileHasher()
    hasher.update(data)
    return hasher.digests(), hasher.size


def test_reference_vectors():
    digests, size = hash_stream(io.BytesIO(b"hello world"))
    assert size == 11
    assert digests["CRC32"] == "85114A0D"  # Civitai scanner's test vector (little-endian bytes)
    assert digests["BLAKE3"].startswith("D74981EF") and digests["BLAKE3"].endswith("1A9E24")
    assert digests["SHA256"] == hashlib.sha256(b"hello world").hexdigest().upper()
    assert digests["AutoV1"] == "E3B0C442"  # nothing at 1 MiB: the SHA-256 of no bytes, as A1111 computes it


@pytest.mark.parametrize(
    "size",
    [0, 1, 0x100000 - 1, 0x100000, 0x100000 + 1, 0x100000 + 0x8000, 0x110000, 0x110000 + 1, 0x200000 - 1, 0x200000],
)
def test_autov1_is_the_bytes_at_one_mib_for_every_size(size: int):
    """A1111's model hash (`file.seek(0x100000); sha256(file.read(0x10000))[:8]`): whatever of the 64 KiB at 1 MiB
    the file has, so for every file, the empty read of a small one included (Civitai always sends AutoV1)."""
    data = random.Random(size).randbytes(size)
    expected = hashlib.sha256(data[0x100000:0x110000]).hexdigest().upper()[:8]
    assert hash_stream(io.BytesIO(data), buffer_size=65536)[0]["AutoV1"] == expected
    assert hash_chunks([data])[0]["AutoV1"] == expected
    assert len(expected) == 8


def test_random_sizes_match_the_serial_hasher():
    rng = random.Random(5)
    sizes = [0, 1, 7, 8, 9, 4095, 4096, 4097, 0x200000 - 1, 0x200000, 0x110000 + 3, rng.randrange(3_000_000)]
    for size in sizes:
        data = rng.randbytes(size)
        for buffer_size in (4096, 65536, 8 * 1024 * 1024):
            assert hash_stream(io.BytesIO(data), buffer_size=buffer_size) == serial(data), (size, buffer_size)


def test_safetensors_autov3_skips_the_header_and_autov1_takes_the_slice_at_one_mib():
    body = random.Random(9).randbytes(3 * 1024 * 1024)
    data = encode({"weight": ("U8", [len(body)], body)}, metadata={"ss_network_dim": "4"})
    digests, _ = hash_stream(io.BytesIO(data), buffer_size=65536)
    assert digests["AutoV3"] == hashlib.sha256(body).hexdigest().upper()[:12]
    assert digests["AutoV1"] == hashlib.sha256(data[0x100000:0x110000]).hexdigest().upper()[:8]
    assert (digests, len(data)) == hash_chunks([data])


@pytest.mark.parametrize("reader", [TrickleReader, ReadOnly])
def test_short_reads_and_readers_without_readinto(reader):
    data = random.Random(3).randbytes(200_000)
    assert hash_stream(reader(data), buffer_size=16384) == serial(data)


def test_a_read_error_is_raised_and_no_hashing_thread_is_left_behind():
    before = threading.active_count()
    with pytest.raises(OSError, match="disk gone"):
        hash_stream(Failing(good=100_000), buffer_size=4096)
    assert threading.active_count() == before
