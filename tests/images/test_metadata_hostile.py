"""Hostile files: reading metadata never raises, stays within time and memory, and keeps only JSON-safe values."""

from __future__ import annotations

import json
import struct
import time
import tracemalloc
import zlib
from typing import Any

import pytest

from modelyard.images.metadata import Found, read_metadata
from modelyard.images.metadata.exif import MAX_CHUNK_TEXT
from modelyard.images.metadata.values import MAX_TEXT
from tests.support.image_metadata import exif_picture, picture, png_text, png_with, text_chunk, user_comment

MIB = 1024 * 1024
A1111 = "a calm lake\nNegative prompt: fog\nSteps: 20, Seed: 5"


def read_within(data: bytes, seconds: float = 2.0, megabytes: int = 80) -> Found | None:
    """read_metadata, checked to return in `seconds` having allocated at most `megabytes` beyond its input."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        found = read_metadata(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < seconds
    assert peak < megabytes * MIB
    if found is not None:
        json.dumps(found.meta, allow_nan=False)  # what PostgreSQL's JSON accepts
    return found


def comfy_png(graph: Any) -> bytes:
    return png_text(prompt=graph if isinstance(graph, str) else json.dumps(graph))


def test_a_50_mb_text_chunk_is_read_only_up_to_the_cap() -> None:
    huge = "masterpiece, " * (50 * MIB // 13)
    data = png_with(text_chunk("parameters", huge), text_chunk("prompt", "{}"))
    assert len(data) > 50 * MIB
    assert read_within(data, seconds=3, megabytes=3 * MAX_CHUNK_TEXT // MIB + 40) is None  # its settings were cut


def test_a_long_prompt_before_the_settings_is_cut_to_the_text_limit() -> None:
    text = "word " * 1_000_000 + "\nSteps: 20, Seed: 1"
    found = read_within(png_text(parameters=text))
    assert found is None  # the settings line lies past the chunk cap…
    found = read_within(png_text(parameters="word " * 100_000 + "\nSteps: 20, Seed: 1"))
    assert found is not None and len(found.meta["prompt"]) <= MAX_TEXT and found.meta["steps"] == 20  # …or not


def test_a_ztxt_decompression_bomb_inflates_no_further_than_the_cap() -> None:
    bomb = zlib.compress(b"A" * (100 * MIB), 9)  # ~100 KB that would inflate to 100 MB
    chunk = struct.pack(">I", len(bomb) + 12) + b"zTXtparameters\x00\x00" + bomb + b"\x00\x00\x00\x00"
    assert read_within(png_with(chunk), megabytes=3 * MAX_CHUNK_TEXT // MIB + 20) is None


def test_an_itxt_bomb_too() -> None:
    bomb = zlib.compress(b"{" * (100 * MIB), 9)
    body = b"prompt\x00\x01\x00\x00\x00" + bomb
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + b"\x00\x00\x00\x00"
    assert read_within(png_with(chunk), megabytes=3 * MAX_CHUNK_TEXT // MIB + 20) is None


def test_deeply_nested_json_is_refused_not_recursed() -> None:
    deep = "[" * 200_000 + "]" * 200_000
    assert read_within(comfy_png(deep)) is None
    nested: dict[str, Any] = {"class_type": "KSampler", "inputs": {}}
    for _ in range(500):  # within the parser's limit: kept only as deep as `meta` allows
        nested = {"inner": nested}
    found = read_within(comfy_png({"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "x", "deep": nested}}}))
    assert found is not None


def test_huge_numbers_nan_and_infinity_do_not_reach_meta() -> None:
    graph = (
        '{"3": {"class_type": "KSampler", "inputs": {"seed": NaN, "steps": Infinity, "cfg": -Infinity, '
        '"denoise": 1e999, "sampler_name": "euler", "positive": ["6", 0], "latent_image": ["5", 0]}}, '
        '"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1e308, "height": 99999999999999999999999}}, '
        '"6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox"}}}'
    )
    found = read_within(comfy_png(graph))
    assert found is not None
    assert found.meta["prompt"] == "a fox" and found.meta["sampler"] == "Euler"
    assert not {"seed", "steps", "cfgScale", "denoise", "width", "height"} & set(found.meta)
    digits = '{"1": {"class_type": "KSampler", "inputs": {"seed": ' + "9" * 50_000 + "}}}"
    assert read_within(comfy_png(digits)) is None  # beyond Python's integer-string limit: unreadable, not raised
    text = "a\nSteps: 99999999999999999999999999999, Seed: 1e999999, CFG scale: nan, Size: 9999999x1"
    found = read_within(png_text(parameters=text))
    assert found is not None
    assert "seed" not in found.meta or isinstance(found.meta["seed"], str)
    assert found.meta.get("cfgScale") == "nan"  # text, never a float NaN


def test_cycles_and_dangling_links_in_the_graph() -> None:
    graph = {
        "1": {
            "class_type": "KSampler",
            "inputs": {
                "positive": ["2", 0],
                "negative": ["9", 0],
                "latent_image": ["3", 0],
                "seed": ["4", 0],
                "steps": 10,
            },
        },
        "2": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["2", 0], "conditioning_2": ["5", 0]}},
        "5": {
            "class_type": "ConditioningConcat",
            "inputs": {"conditioning_to": ["2", 0], "conditioning_from": ["6", 0]},
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "loop", "clip": ["6", 0]}},
        "3": {"class_type": "LatentUpscale", "inputs": {"samples": ["3", 0]}},
        "4": {"class_type": "PrimitiveInt", "inputs": {"value": ["4", 0]}},
    }
    found = read_within(comfy_png(graph))
    assert found is not None and found.meta["prompt"] == "loop" and found.meta["steps"] == 10
    assert "negativePrompt" not in found.meta and "seed" not in found.meta


def test_a_long_chain_is_walked_only_so_far() -> None:
    graph: dict[str, Any] = {
        str(n): {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": [str(n + 1), 0]}}
        for n in range(1, 4000)
    }
    graph["4000"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "far away"}}
    graph["0"] = {"class_type": "KSampler", "inputs": {"positive": ["1", 0], "steps": 3}}
    found = read_within(comfy_png(graph))
    assert found is not None and "prompt" not in found.meta and found.meta["steps"] == 3


@pytest.mark.parametrize(
    "prompt",
    [
        "[]",
        '"a string"',
        "42",
        '{"1": "not a node", "2": [1, 2, 3], "3": null, "4": {"class_type": 7}, "5": {"class_type": "KSampler"}}',
        '{"1": {"class_type": "KSampler", "inputs": [1, 2]}}',
        '{"1": {"class_type": "KSampler", "inputs": {"positive": [true, 0], "latent_image": [[1], 0]}}}',
        '{"1": {"class_type": "LoraLoader", "inputs": {"lora_name": {"x": 1}, "strength_model": "strong"}}}',
        "{not json at all",
    ],
)
def test_graphs_of_the_wrong_shape(prompt: str) -> None:
    read_within(comfy_png(prompt))


def test_a1111_settings_line_of_a_million_keys() -> None:
    text = "a\nSteps: 1, " + "Key: value, " * 300_000
    found = read_within(png_text(parameters=text), seconds=3)
    assert found is not None and len(found.meta) < 400


def test_a1111_json_segments_that_never_close() -> None:
    text = 'a\nSteps: 1, Hashes: {"model": "' + "a" * 100_000 + ", Civitai resources: [[[[[[, Seed: 4"
    found = read_within(png_text(parameters=text))
    assert found is not None and found.meta["steps"] == 1


def test_nul_bytes_are_removed_from_text() -> None:
    found = read_within(png_with(text_chunk("parameters", "a\x00b\nNegative prompt: c\x00\nSteps: 2", "iTXt")))
    assert found is not None and found.meta["prompt"] == "ab" and found.meta["negativePrompt"] == "c"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x00tEXt\x00\x00\x00\x00" * 200_000,  # many empty chunks
        b"\xff\xd8" + b"\xff\xe1\x00\x02" * 100,  # empty APP1 segments
        b"\xff\xd8\xff\xe1\xff\xffExif\x00\x00MM\x00\x2a\xff\xff\xff\xff",  # IFD offset past the end
        b"RIFF\xff\xff\xff\xffWEBPEXIF\xff\xff\xff\x7fII*\x00",
        b"GIF89a" + b"\x00" * 100,
        b"<svg xmlns='http://www.w3.org/2000/svg'><text>Steps: 20</text></svg>",
    ],
)
def test_truncated_and_malformed_containers(data: bytes) -> None:
    assert read_within(data) is None


def test_a_chunk_claiming_more_bytes_than_the_file_has_gives_what_is_there() -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"\xff\xff\xff\xfftEXt" + b"parameters\x00a\nSteps: 1"
    found = read_within(data)
    assert found is not None and found.meta == {"prompt": "a", "steps": 1}


def test_exif_with_an_ifd_loop_and_wild_offsets() -> None:
    # IFD0 whose Exif-IFD pointer points back at IFD0, and a UserComment claiming 4 GB.
    entries = struct.pack(">HHII", 0x8769, 4, 1, 8) + struct.pack(">HHII", 0x9286, 7, 0xFFFFFFFF, 8)
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 2) + entries + b"\x00\x00\x00\x00"
    segment = b"Exif\x00\x00" + tiff
    data = b"\xff\xd8\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + b"\xff\xd9"
    assert read_within(data) is None


def test_truncated_jpeg_still_gives_its_comment() -> None:
    whole = exif_picture("JPEG", comment=user_comment(A1111))
    found = read_within(whole[: len(whole) // 2])
    assert found is not None and found.meta["prompt"] == "a calm lake"


def test_many_resources_are_capped() -> None:
    prompt = " ".join(f"<lora:l{n}:0.5>" for n in range(5000))
    found = read_within(png_text(parameters=prompt + "\nSteps: 1"))
    assert found is not None and len(found.resources) <= 50


def test_an_ordinary_picture_costs_little() -> None:
    data = picture((1024, 1024))
    started = time.perf_counter()
    for _ in range(100):
        assert read_metadata(data) is None
    assert time.perf_counter() - started < 0.5
