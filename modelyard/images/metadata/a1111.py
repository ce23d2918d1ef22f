"""AUTOMATIC1111 / Forge "infotext": the `parameters` text of a PNG, or the EXIF UserComment of a JPEG or WebP.

    a prompt, over one or more lines <lora:detail:0.6>
    Negative prompt: what to avoid
    Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 832x1216,
    Model hash: 1a2b3c4d5e, Model: someModel, Lora hashes: "detail: 0123456789ab", Hashes: {"model": "…"}, …

The same in one line (some tools join them) is read too. The settings line is split on `, ` into `Key: value`,
values in double quotes (JSON-quoted) keep their commas; `Hashes`, `Civitai resources` and `Civitai metadata`
carry bare JSON and are cut out first.
"""

from __future__ import annotations

import json
import re
from typing import Any

import modelyard.images.metadata.values as values
from modelyard.images.metadata.found import Collector, Found

MAX_SETTINGS = 64 * 1024  # characters of the settings line read
MAX_SETTINGS_KEYS = 300
_STEPS = re.compile(r"(?:^|(?<=\s))Steps: ?\d")
_NEGATIVE = "Negative prompt:"
_PAIR = re.compile(r'\s*([A-Za-z][\w \-/().+]{0,60}?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_JSON_KEYS = {"Hashes": "hashes", "Civitai resources": "civitaiResources", "Civitai metadata": "extra"}
_RENAMED = {"Seed": "seed", "CFG scale": "cfgScale", "Sampler": "sampler", "Steps": "steps", "Clip skip": "clipSkip"}
# Keys whose values stay text even when they look like numbers (a hash of digits, a version "1.10").
_TEXT_KEY = re.compile(r"hash|model|vae|version|name|sampler|schedul|refiner|lora|ti |hypernet|size", re.I)
_NETWORK = re.compile(r"<(lora|lyco|hypernet):([^:<>\n]{1,255}):([^:<>\n]{1,32})(?::[^<>\n]{0,64})?>")
_NAME_HASH = re.compile(r"^(.*?)\s*[(\[]([0-9a-fA-F]{8,64})[)\]]$")  # "name(hash)", "name [hash]"
_KINDS = {"lora": "lora", "lyco": "lora", "hypernet": "hypernet", "embed": "embedding", "ti": "embedding"}


def detect(raw: str | None) -> bool:
    return raw is not None and _STEPS.search(raw) is not None


def parse(raw: str) -> Found | None:
    text = raw.replace("\r\n", "\n")
    matches = list(_STEPS.finditer(text))
    if not matches:
        return None
    start = matches[-1].start()
    head, settings = text[:start], text[start : start + MAX_SETTINGS].replace("\n", ", ")
    prompt, _, negative = head.partition(_NEGATIVE)
    meta: dict[str, Any] = {}
    collector = Collector()
    if values.text(prompt):
        meta["prompt"] = values.text(prompt)
        _prompt_networks(meta["prompt"], collector)
    if values.text(negative):
        meta["negativePrompt"] = values.text(negative)
    settings, found_json = _cut_json(settings)
    for key, value in _pairs(settings):
        meta[_RENAMED.get(key, key)] = value
    for key, value in found_json.items():
        meta[key] = value
    _size(meta)
    _resources(meta, collector)
    if collector.resources:
        meta["resources"] = collector.meta_list()
    meta = values.clean(meta)
    return Found(meta=meta, resources=tuple(collector.resources)) if meta else None


def _pairs(settings: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for match in _PAIR.finditer(settings):
        if len(found) >= MAX_SETTINGS_KEYS:
            break
        key, raw = match[1].strip(), match[2].strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) > 1:
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = raw[1:-1]
        if not isinstance(raw, str) or not raw:
            continue
        parsed = values.number(raw) if not _TEXT_KEY.search(key) or key in _RENAMED else None
        found.append((key, parsed if parsed is not None else raw))
    return found


def _cut_json(settings: str) -> tuple[str, dict[str, Any]]:
    """The settings line without its bare-JSON values, and those values parsed."""
    found: dict[str, Any] = {}
    for key, name in _JSON_KEYS.items():
        marker = settings.find(f"{key}: ")
        if marker < 0:
            continue
        begin = marker + len(key) + 2
        end = _json_end(settings, begin)
        if end is None:
            continue
        parsed = values.load_json(settings[begin:end])
        if parsed is not None:
            found[name] = parsed
        settings = settings[:marker] + settings[end:]
    return settings, found


def _json_end(source: str, begin: int) -> int | None:
    """Where the JSON object or array starting at `begin` ends (bracket counting outside strings)."""
    if begin >= len(source) or source[begin] not in "{[":
        return None
    depth, quoted, escaped = 0, False, False
    for position in range(begin, len(source)):
        char = source[position]
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return position + 1
    return None


def _size(meta: dict[str, Any]) -> None:
    size = meta.get("Size")
    if isinstance(size, str):
        width, _, height = size.partition("x")
        if values.integer(width) and values.integer(height):
            meta["width"], meta["height"] = values.integer(width), values.integer(height)


def _prompt_networks(prompt: str, collector: Collector) -> None:
    for kind, name, weight in _NETWORK.findall(prompt[: values.MAX_TEXT]):
        collector.add(_KINDS[kind], name.strip(), strength=values.number(weight))


def _resources(meta: dict[str, Any], collector: Collector) -> None:
    if meta.get("Model") or meta.get("Model hash"):
        collector.add("checkpoint", meta.get("Model"), meta.get("Model hash"))
    if meta.get("VAE hash"):
        collector.add("vae", values.file_name(meta.get("VAE")), meta.get("VAE hash"))
    for key in ("Lora hashes", "TI hashes"):
        kind = "lora" if key.startswith("Lora") else "embedding"
        for part in str(meta.get(key) or "").split(","):
            name, _, digest = part.rpartition(":")
            if name.strip() and digest.strip():
                collector.add_hash_to_named(kind, name.strip(), digest.strip())
    hashes = meta.get("hashes")
    if isinstance(hashes, dict):
        for key, digest in list(hashes.items())[:100]:
            prefix, _, name = str(key).partition(":")
            if key == "model":
                collector.add_hash_to_named("checkpoint", meta.get("Model"), digest)
            elif key == "vae":
                collector.add("vae", values.file_name(meta.get("VAE")), digest)
            elif prefix in _KINDS and name:
                collector.add_hash_to_named(_KINDS[prefix], name, digest)
    for key in [key for key in meta if key.startswith(("AddNet Model", "Hypernet", "Refiner"))]:
        _name_with_hash(key, meta, collector)
    _civitai_resources(meta.get("civitaiResources"), collector)


def _name_with_hash(key: str, meta: dict[str, Any], collector: Collector) -> None:
    """`AddNet Model 1: name(hash)` (with `AddNet Weight A 1`), `Hypernet: name(hash)`, `Refiner: name [hash]`."""
    value = meta.get(key)
    match = _NAME_HASH.match(value) if isinstance(value, str) else None
    if match is None or key.startswith("Hypernet strength"):
        return
    if key.startswith("AddNet Model"):
        number = key.removeprefix("AddNet Model").strip()
        collector.add("lora", match[1], match[2], strength=meta.get(f"AddNet Weight A {number}"))
    elif key.startswith("Hypernet"):
        collector.add("hypernet", match[1], match[2], strength=meta.get("Hypernet strength"))
    else:
        collector.add("checkpoint", match[1], match[2])


def _civitai_resources(listed: Any, collector: Collector) -> None:
    """`Civitai resources: [{type, weight, modelVersionId, modelVersionName, air?}, …]` (images made on Civitai)."""
    if not isinstance(listed, list):
        return
    for entry in listed[:50]:
        if isinstance(entry, dict):
            collector.add(
                entry.get("type"),
                entry.get("modelVersionName") or entry.get("modelName"),
                entry.get("hash"),
                air=entry.get("air"),
                strength=entry.get("weight"),
                version_id=entry.get("modelVersionId"),
            )
