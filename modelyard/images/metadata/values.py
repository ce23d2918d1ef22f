"""Turning untrusted values into what `Image.meta` may hold: numbers that are finite, text without NUL bytes and
of bounded length, JSON parsed without trusting its depth, size or constants.

Every parser goes through these, so a hostile file cannot put NaN (which PostgreSQL's JSON refuses), a megabyte
prompt or a thousand-level tree into the database.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_TEXT = 20_000  # one prompt or value, in characters (Civitai's longest real prompts are a few thousand)
MAX_JSON = 4 * 1024 * 1024  # characters of JSON parsed at all (a big ComfyUI workflow is a few hundred KB)
MAX_DEPTH = 12  # nesting kept in `meta` (deeper parts are dropped)
MAX_ITEMS = 200  # entries kept per list or object in `meta`
MAX_KEY = 100
_INT = re.compile(r"[+-]?\d{1,30}")
_FLOAT = re.compile(r"[+-]?(?:\d{1,30}\.\d{0,30}|\.\d{1,30}|\d{1,30})(?:[eE][+-]?\d{1,3})?")
_BIG = 2**64


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A string as `meta` keeps it: NUL bytes removed, at most `limit` characters; None for anything else."""
    if not isinstance(value, str):
        return None
    cleaned = value.replace("\x00", "")[:limit].strip()
    return cleaned or None


def number(value: Any) -> int | float | None:
    """A finite number from a number or its text ("7", "7.5", " 20 "); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -_BIG < value < _BIG else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, str) or len(value) > 64:
        return None
    stripped = value.strip()
    if _INT.fullmatch(stripped):
        return number(int(stripped))
    if _FLOAT.fullmatch(stripped):
        return number(float(stripped))
    return None


def integer(value: Any) -> int | None:
    found = number(value)
    if isinstance(found, float):
        return int(found) if found.is_integer() else None
    return found


def load_json(raw: str | None) -> Any:
    """JSON from untrusted text, or None: NaN and Infinity read as null, over-long numbers and too-deep nesting
    (the parser's recursion guard) make the whole text unreadable rather than raising."""
    if not raw or len(raw) > MAX_JSON:
        return None
    try:
        return json.loads(raw, parse_constant=lambda _name: None, parse_float=_finite_float)
    except (ValueError, RecursionError, MemoryError):
        return None


def _finite_float(raw: str) -> float | None:
    found = float(raw)
    return found if math.isfinite(found) else None


def clean(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of `value` within the limits above (iterative callers never see deeper than MAX_DEPTH,
    so the recursion here is bounded)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, str):
        return text(value)
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in list(value.items())[:MAX_ITEMS]:
            name = text(str(key), MAX_KEY)
            cleaned = clean(item, depth + 1)
            if name is not None and cleaned is not None:
                out[name] = cleaned
        return out
    if isinstance(value, list | tuple):
        return [found for found in (clean(item, depth + 1) for item in list(value)[:MAX_ITEMS]) if found is not None]
    return None


def dumps_capped(value: Any, limit: int) -> str | None:
    """`value` as compact JSON when it fits in `limit` characters (ComfyUI graphs kept in `meta.comfy`)."""
    try:
        found = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return None
    return found if len(found) <= limit else None


def file_name(value: Any) -> str | None:
    """A model file's name as a resource's name: the last part of its path, its extension dropped."""
    found = text(value, 255)
    if found is None:
        return None
    base = re.split(r"[\\/]", found)[-1]
    stem, dot, extension = base.rpartition(".")
    if dot and stem and extension.lower() in {"safetensors", "ckpt", "pt", "pth", "bin", "gguf", "sft", "onnx"}:
        base = stem
    return base or None


def hash_value(value: Any) -> str | None:
    """A hex digest as a file carries it ("0xABC…", "blake3:abc…", "abc…"); None when it is not hex."""
    found = text(value, 100)
    if found is None:
        return None
    found = found.split(":", 1)[1] if re.match(r"^(?:blake3|sha256|autov\d|crc32):", found, re.I) else found
    found = found[2:] if found[:2].lower() == "0x" else found
    return found.lower() if re.fullmatch(r"[0-9a-fA-F]{8,64}", found) else None
