"""Writing (tiny) safetensors files without torch: an 8-byte little-endian header length, a JSON header naming
each tensor's dtype, shape and byte range, then the raw data. The demo catalog and the tests use it."""

from __future__ import annotations

import json
import random
import struct
from typing import Any

_DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1}


def encode(tensors: dict[str, tuple[str, list[int], bytes]], metadata: dict[str, str] | None = None) -> bytes:
    """`tensors` maps a name to (dtype, shape, raw little-endian bytes)."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for name, (dtype, shape, data) in tensors.items():
        count = 1
        for dim in shape:
            count *= dim
        if len(data) != count * _DTYPE_SIZE[dtype]:
            raise ValueError(f"tensor {name}: {len(data)} bytes do not fit {dtype}{shape}")
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to a multiple of 8 bytes
    return struct.pack("<Q", len(raw)) + raw + b"".join(data for _, _, data in tensors.values())


def tiny_lora(seed: int, *, rank: int = 4, width: int = 32, metadata: dict[str, str] | None = None) -> bytes:
    """A small, valid LoRA-shaped file (one down/up pair) whose bytes depend on `seed`: distinct hashes each."""
    rng = random.Random(seed)

    def floats(count: int) -> bytes:
        return struct.pack(f"<{count}f", *(rng.uniform(-0.05, 0.05) for _ in range(count)))

    base = "lora_unet_down_blocks_0_attentions_0_proj_in"
    return encode(
        {
            f"{base}.lora_down.weight": ("F32", [rank, width], floats(rank * width)),
            f"{base}.lora_up.weight": ("F32", [width, rank], floats(width * rank)),
            f"{base}.alpha": ("F32", [], struct.pack("<f", float(rank))),
        },
        metadata={"ss_network_dim": str(rank), **(metadata or {})},
    )


def read_header(data: bytes) -> dict[str, Any]:
    (length,) = struct.unpack("<Q", data[:8])
    parsed: dict[str, Any] = json.loads(data[8 : 8 + length])
    return parsed
