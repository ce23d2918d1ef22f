"""Fooocus and RuinedFooocus: a JSON `parameters` text.

Fooocus (`metadata_scheme: fooocus`, also in a `fooocus_scheme` chunk): prompt, negative_prompt, guidance_scale,
steps, seed (as text), sampler, scheduler, resolution "(w, h)", base_model with base_model_hash, loras as
[name, weight, hash] and a version. (Fooocus's `a1111` scheme writes A1111 text, read by `a1111`.)
RuinedFooocus (`software: RuinedFooocus`): Prompt, Negative, cfg, steps, seed, sampler_name, scheduler, width,
height, base_model_name with base_model_hash, loras.
"""

from __future__ import annotations

import re
from typing import Any

import modelyard.images.metadata.values as values
from modelyard.images.metadata.comfy import sampler_name
from modelyard.images.metadata.found import Collector, Found

_RESOLUTION = re.compile(r"\(?\s*(\d{1,6})\s*[,x\u00d7]\s*(\d{1,6})\s*\)?")


def detect_ruined(document: Any) -> bool:
    return isinstance(document, dict) and document.get("software") == "RuinedFooocus"


def detect_fooocus(document: Any, scheme: str | None) -> bool:
    return isinstance(document, dict) and (document.get("metadata_scheme") == "fooocus" or scheme == "fooocus")


def parse_fooocus(document: dict[str, Any]) -> Found | None:
    meta: dict[str, Any] = {
        "prompt": document.get("prompt"),
        "negativePrompt": document.get("negative_prompt"),
        "cfgScale": values.number(document.get("guidance_scale")),
        "steps": values.integer(document.get("steps")),
        "seed": values.integer(document.get("seed")),
        "sampler": sampler_name(document.get("sampler"), document.get("scheduler")),
        "scheduler": document.get("scheduler"),
        "sharpness": values.number(document.get("sharpness")),
        "styles": document.get("styles"),
        "software": document.get("version") or "Fooocus",
    }
    _resolution(document.get("resolution"), meta)
    collector = Collector()
    _model(document.get("base_model"), document.get("base_model_hash"), meta, collector)
    if values.file_name(document.get("refiner_model")) not in (None, "None"):
        collector.add("checkpoint", values.file_name(document["refiner_model"]), document.get("refiner_model_hash"))
    _loras(document.get("loras"), collector)
    return _found(meta, collector)


def parse_ruined(document: dict[str, Any]) -> Found | None:
    meta: dict[str, Any] = {
        "prompt": document.get("Prompt"),
        "negativePrompt": document.get("Negative"),
        "cfgScale": values.number(document.get("cfg")),
        "steps": values.integer(document.get("steps")),
        "seed": values.integer(document.get("seed")),
        "sampler": sampler_name(document.get("sampler_name"), document.get("scheduler")),
        "scheduler": document.get("scheduler"),
        "denoise": values.number(document.get("denoise")),
        "software": "RuinedFooocus",
    }
    width, height = values.integer(document.get("width")), values.integer(document.get("height"))
    if width and height:
        meta["width"], meta["height"], meta["Size"] = width, height, f"{width}x{height}"
    collector = Collector()
    _model(document.get("base_model_name"), document.get("base_model_hash"), meta, collector)
    _loras(document.get("loras"), collector)
    return _found(meta, collector)


def _resolution(value: Any, meta: dict[str, Any]) -> None:
    match = _RESOLUTION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match:
        meta["width"], meta["height"] = int(match[1]), int(match[2])
        meta["Size"] = f"{match[1]}x{match[2]}"


def _model(name: Any, digest: Any, meta: dict[str, Any], collector: Collector) -> None:
    model = values.file_name(name)
    if model:
        meta["Model"] = model
    if values.hash_value(digest):
        meta["Model hash"] = values.hash_value(digest)
    collector.add("checkpoint", model, digest)


def _loras(loras: Any, collector: Collector) -> None:
    """Entries as lists: a name (or "weight - name"), a weight, a hash, in the order each version writes them."""
    for entry in loras[:50] if isinstance(loras, list) else []:
        parts = entry if isinstance(entry, list) else [entry]
        name = weight = digest = None
        for part in parts[:4]:
            if values.number(part) is not None and weight is None and not values.hash_value(part):
                weight = values.number(part)
            elif isinstance(part, str) and values.hash_value(part) and digest is None and "." not in part:
                digest = part
            elif isinstance(part, str) and name is None:
                name = part
        if isinstance(name, str) and " - " in name and weight is None:
            weight_text, _, name = name.partition(" - ")
            weight = values.number(weight_text)
        if name in (None, "None") or (weight is not None and abs(weight) < 1e-3):
            continue
        collector.add("lora", values.file_name(name), digest, strength=weight)


def _found(meta: dict[str, Any], collector: Collector) -> Found | None:
    if collector.resources:
        meta["resources"] = collector.meta_list()
    cleaned = values.clean({key: value for key, value in meta.items() if value is not None})
    return Found(meta=cleaned, resources=tuple(collector.resources)) if cleaned else None
