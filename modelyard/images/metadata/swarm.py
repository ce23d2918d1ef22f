"""SwarmUI: a JSON `parameters` text (PNG) or UserComment (JPEG, WebP) with `sui_image_params` (prompt,
negativeprompt, model, seed, steps, cfgscale, sampler, scheduler, width, height, loras with loraweights) and
`sui_models` (each model file used, with a `0x`-prefixed SHA-256)."""

from __future__ import annotations

from typing import Any

import modelyard.images.metadata.values as values
from modelyard.images.metadata.comfy import sampler_name
from modelyard.images.metadata.found import Collector, Found

_KEYS = {"prompt": "prompt", "negativeprompt": "negativePrompt", "seed": "seed", "steps": "steps"}
_KEYS |= {"cfgscale": "cfgScale", "scheduler": "scheduler", "clipstopatlayer": "clipSkip", "vae": "VAE"}


def detect(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("sui_image_params"), dict)


def parse(document: dict[str, Any]) -> Found | None:
    params: dict[str, Any] = document["sui_image_params"]
    meta: dict[str, Any] = {name: params[key] for key, name in _KEYS.items() if key in params}
    meta["sampler"] = sampler_name(params.get("sampler"), params.get("scheduler"))
    if isinstance(meta.get("clipSkip"), int | float):
        meta["clipSkip"] = abs(meta["clipSkip"])  # Swarm counts CLIP layers from the end: -2 is A1111's 2
    width, height = values.integer(params.get("width")), values.integer(params.get("height"))
    if width and height:
        meta["width"], meta["height"], meta["Size"] = width, height, f"{width}x{height}"
    hashes = _model_hashes(document.get("sui_models"))
    collector = Collector()
    model = values.file_name(params.get("model"))
    if model:
        meta["Model"] = model
        collector.add("checkpoint", model, hashes.get(model.lower()))
    loras, weights = params.get("loras"), params.get("loraweights")
    if isinstance(loras, list):
        weights = weights if isinstance(weights, list) else []
        for index, lora in enumerate(loras[:50]):
            name = values.file_name(lora)
            weight = weights[index] if index < len(weights) else None
            collector.add("lora", name, hashes.get((name or "").lower()), strength=values.number(weight))
    if collector.resources:
        meta["resources"] = collector.meta_list()
    version = values.text(params.get("swarm_version"), 40)
    meta["software"] = f"SwarmUI {version}" if version else "SwarmUI"
    meta = values.clean(meta)
    return Found(meta=meta, resources=tuple(collector.resources))


def _model_hashes(models: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in models[:50] if isinstance(models, list) else []:
        if isinstance(entry, dict):
            name, digest = values.file_name(entry.get("name")), values.hash_value(entry.get("hash"))
            if name and digest:
                found[name.lower()] = digest
    return found
