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
    layout = {name: (dtype, shape, len(data)) for name, (dtype, shape, data) in tensors.items()}
    return encode_header(layout, metadata) + b"".join(data for _, _, data in tensors.values())


def encode_header(layout: dict[str, tuple[str, list[int], int]], metadata: dict[str, str] | None = None) -> bytes:
    """The 8-byte length and JSON header for tensors (dtype, shape, byte count) stored in this order after it."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for name, (dtype, shape, length) in layout.items():
        count = 1
        for dim in shape:
            count *= dim
        if length != count * _DTYPE_SIZE[dtype]:
            raise ValueError(f"tensor {name}: {length} bytes do not fit {dtype}{shape}")
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + length]}
        offset += length
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to a multiple of 8 bytes
    return struct.pack("<Q", len(raw)) + raw


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


def _random_tensors(
    seed: int, shapes: dict[str, list[int]], dtype: str, *, scale: float = 0.05
) -> dict[str, tuple[str, list[int], bytes]]:
    """Seeded random tensors of one dtype (F32 or F16) with the given names and shapes."""
    rng = random.Random(seed)
    code = {"F32": "f", "F16": "e"}[dtype]
    tensors: dict[str, tuple[str, list[int], bytes]] = {}
    for name, shape in shapes.items():
        count = 1
        for dim in shape:
            count *= dim
        values = (rng.uniform(-scale, scale) for _ in range(count))
        tensors[name] = (dtype, shape, struct.pack(f"<{count}{code}", *values))
    return tensors


def tiny_checkpoint(seed: int, *, dtype: str = "F16", metadata: dict[str, str] | None = None) -> bytes:
    """A small file shaped like a full Stable Diffusion checkpoint: UNet, VAE and text-encoder tensors under the
    prefixes the usual loaders look for (`model.diffusion_model.`, `first_stage_model.`, `cond_stage_model.`)."""
    shapes = {
        "model.diffusion_model.input_blocks.0.0.weight": [8, 4, 3, 3],
        "model.diffusion_model.input_blocks.0.0.bias": [8],
        "model.diffusion_model.out.2.weight": [4, 8, 3, 3],
        "first_stage_model.decoder.conv_out.weight": [3, 8, 3, 3],
        "first_stage_model.encoder.conv_in.weight": [8, 3, 3, 3],
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": [16, 8],
    }
    return encode(
        _random_tensors(seed, shapes, dtype),
        metadata={"modelspec.architecture": "stable-diffusion-v1", **(metadata or {})},
    )


def tiny_embedding(seed: int, *, vectors: int = 2, sdxl: bool = False, metadata: dict[str, str] | None = None) -> bytes:
    """A small textual-inversion embedding: `emb_params` (SD 1.x, 768 wide), or `clip_l` + `clip_g` (SDXL)."""
    shapes = {"clip_l": [vectors, 768], "clip_g": [vectors, 1280]} if sdxl else {"emb_params": [vectors, 768]}
    return encode(_random_tensors(seed, shapes, "F32"), metadata=metadata)


def tiny_vae(seed: int, *, metadata: dict[str, str] | None = None) -> bytes:
    """A small file shaped like a VAE (encoder in, decoder out, and the quantisation convolutions)."""
    shapes = {
        "encoder.conv_in.weight": [8, 3, 3, 3],
        "encoder.conv_out.weight": [8, 8, 3, 3],
        "quant_conv.weight": [8, 8, 1, 1],
        "post_quant_conv.weight": [4, 4, 1, 1],
        "decoder.conv_in.weight": [8, 4, 3, 3],
        "decoder.conv_out.weight": [3, 8, 3, 3],
    }
    return encode(_random_tensors(seed, shapes, "F16"), metadata=metadata)


def tiny_controlnet(seed: int, *, metadata: dict[str, str] | None = None) -> bytes:
    """A small file shaped like a ControlNet (the hint encoder, a zero convolution and the middle block out)."""
    shapes = {
        "control_model.input_hint_block.0.weight": [16, 3, 3, 3],
        "control_model.input_hint_block.0.bias": [16],
        "control_model.zero_convs.0.0.weight": [8, 8, 1, 1],
        "control_model.middle_block_out.0.weight": [8, 8, 1, 1],
    }
    return encode(_random_tensors(seed, shapes, "F16"), metadata=metadata)


def tiny_for_type(model_type: str, seed: int, *, full: bool = False, metadata: dict[str, str] | None = None) -> bytes:
    """A tiny file shaped like a model of `model_type` (a ModelType value; LoRA-shaped for the kinds without a
    generator of their own). `full` makes a checkpoint's fp32 variant."""
    if model_type == "Checkpoint":
        return tiny_checkpoint(seed, dtype="F32" if full else "F16", metadata=metadata)
    if model_type == "TextualInversion":
        return tiny_embedding(seed, vectors=1 + seed % 4, metadata=metadata)
    if model_type == "VAE":
        return tiny_vae(seed, metadata=metadata)
    if model_type == "Controlnet":
        return tiny_controlnet(seed, metadata=metadata)
    return tiny_lora(seed, metadata=metadata)
