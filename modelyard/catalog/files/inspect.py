"""What a model file is, read from its bytes and never from its name: safetensors (the header parsed and checked,
no tensor loaded), pickle and PyTorch zip checkpoints, GGUF, diffusers folders in a zip, ONNX, or other.

From a safetensors header comes what the page shows and the primary-file rule compares: the dtype (fp), pruned
or full, tensor and parameter counts, and the `__metadata__` block (kohya `ss_*` training settings, modelspec).
"""

from __future__ import annotations

import json
import struct
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from modelyard.core.errors import ValidationFailed

MAX_HEADER = 100 * 1024 * 1024  # safetensors' own reader refuses larger headers
# A header is an object of tensors, each an object with two short arrays: three levels. Deeper nesting, more
# objects and arrays than a header of a third of a million tensors has, or integers past 64 bits are refused
# before they cost the parser its stack, memory or a quadratic conversion.
MAX_DEPTH = 8
MAX_CONTAINERS = 1_000_000
MAX_DIGITS = 20
MAX_DIMENSIONS = 64
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
_FP = {"F32": "fp32", "F16": "fp16", "BF16": "bf16", "F8_E4M3": "fp8", "F8_E5M2": "fp8", "F64": "fp32"}
_PICKLE_PROTOCOLS = range(2, 6)


@dataclass
class Inspection:
    format: str  # one of enums.FILE_FORMATS
    contains_pickle: bool = False
    fp: str | None = None
    size: str | None = None  # "pruned" or "full", for checkpoints
    details: dict[str, Any] = field(default_factory=dict)  # stored as ModelFile.header_data


def inspect_file(stream: BinaryIO, length: int) -> Inspection:
    """Identify the file in `stream` (seekable, `length` bytes). A file claiming to be safetensors whose header
    is malformed is refused with the reason."""
    stream.seek(0)
    head = stream.read(16)
    stream.seek(0)
    pickled = len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS
    if len(head) >= 9 and head[8:9] == b"{":
        try:
            return _safetensors(stream, length)
        except ValidationFailed:
            # A header length of 640 starts like a protocol-2 pickle; only a real header makes it safetensors.
            if not pickled:
                raise
            stream.seek(0)
    if pickled:
        return Inspection("PickleTensor", contains_pickle=True)
    if head.startswith(b"GGUF"):
        return Inspection("GGUF")
    if head.startswith(b"PK\x03\x04"):
        return _zip(stream)
    if head[:1] == b"\x08" and b"\x12" in head[2:6]:
        return Inspection("ONNX")  # a ModelProto: ir_version (field 1), then producer_name (field 2)
    return Inspection("Other")


def _safetensors(stream: BinaryIO, length: int) -> Inspection:
    (header_length,) = struct.unpack("<Q", stream.read(8))
    if header_length > MAX_HEADER:
        raise ValidationFailed(f"This safetensors file's header claims {header_length} bytes (at most {MAX_HEADER})")
    if 8 + header_length > length:
        raise ValidationFailed(
            f"This safetensors file is truncated: its header claims {header_length} bytes, the file has {length}"
        )
    header = _parse_header(stream.read(header_length))
    if not isinstance(header, dict):
        raise ValidationFailed("This safetensors file's header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise ValidationFailed("This safetensors file's __metadata__ must map names to strings")
    data_length = length - 8 - header_length
    parameters: Counter[str] = Counter()
    for name, tensor in header.items():
        parameters[_check_tensor(name, tensor, data_length)] += _count(tensor["shape"])
    stream.seek(0)
    dominant = parameters.most_common(1)[0][0] if parameters else None
    # Pruned or full only means something for a whole checkpoint: full ones keep the EMA copy of the weights.
    checkpoint = any(name.startswith("model.diffusion_model.") for name in header)
    full = any(name.startswith("model_ema.") for name in header)
    return Inspection(
        "SafeTensor",
        fp=_FP.get(dominant or ""),
        size=("full" if full else "pruned") if checkpoint else None,
        details={
            "tensorCount": len(header),
            "parameterCount": sum(parameters.values()),
            "dtypes": dict(parameters),
            "metadata": metadata or {},
        },
    )


def _parse_header(raw: bytes) -> Any:
    """The header's JSON, within the limits above; anything else is refused saying why, never a crash."""
    containers = raw.count(b"{") + raw.count(b"[")  # an upper bound: brackets inside strings count too
    if containers > MAX_CONTAINERS:
        raise ValidationFailed(f"This safetensors file's header has over {MAX_CONTAINERS} objects and arrays")
    try:
        header = json.loads(raw, parse_int=_header_int, parse_constant=_header_constant)
    except RecursionError:
        raise ValidationFailed(f"This safetensors file's header is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError among them
        raise ValidationFailed(f"This safetensors file's header is not valid JSON: {exc}") from exc
    pending: list[tuple[Any, int]] = [(header, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        if children and depth > MAX_DEPTH:
            raise ValidationFailed(f"This safetensors file's header is nested deeper than {MAX_DEPTH} levels")
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return header


def _header_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValidationFailed(f"This safetensors file's header has a number of {len(text)} digits")
    return int(text)


def _header_constant(name: str) -> Any:
    raise ValidationFailed(f"This safetensors file's header is not valid JSON: {name} is not a JSON number")


def _check_tensor(name: str, tensor: Any, data_length: int) -> str:
    if not isinstance(tensor, dict):
        raise ValidationFailed(f"Tensor {name!r} in the safetensors header is not an object")
    dtype, shape, offsets = tensor.get("dtype"), tensor.get("shape"), tensor.get("data_offsets")
    if dtype not in _DTYPE_BYTES:
        raise ValidationFailed(f"Tensor {name!r} has an unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ValidationFailed(f"Tensor {name!r} has an invalid shape")
    if len(shape) > MAX_DIMENSIONS:
        raise ValidationFailed(f"Tensor {name!r} has {len(shape)} dimensions (at most {MAX_DIMENSIONS})")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) for o in offsets)
        and 0 <= offsets[0] <= offsets[1] <= data_length
    ):
        raise ValidationFailed(f"Tensor {name!r} points outside the file's data")
    if offsets[1] - offsets[0] != _count(shape) * _DTYPE_BYTES[dtype]:
        raise ValidationFailed(f"Tensor {name!r}: its byte range does not fit {dtype}{shape}")
    return str(dtype)


def _count(shape: list[int]) -> int:
    total = 1
    for dimension in shape:
        total *= dimension
    return total


def _zip(stream: BinaryIO) -> Inspection:
    try:
        with zipfile.ZipFile(stream) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return Inspection("Other")
    finally:
        stream.seek(0)
    leaves = {name.rsplit("/", 1)[-1] for name in names}
    if "data.pkl" in leaves:
        return Inspection("PickleTensor", contains_pickle=True)  # torch.save's zip format
    if "model_index.json" in leaves:
        pickled = any(name.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl")) for name in names)
        return Inspection("Diffusers", contains_pickle=pickled)
    return Inspection("Other", contains_pickle=any(name.endswith((".pkl", ".pt", ".pth", ".ckpt")) for name in names))
