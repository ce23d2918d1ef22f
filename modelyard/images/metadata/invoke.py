"""InvokeAI: the `invokeai_metadata` chunk (version 3 and later: positive_prompt, negative_prompt, seed, steps,
cfg_scale, scheduler, width, height, clip_skip, model {name, hash "blake3:…"}, vae, loras [{model, weight}]),
or the older `sd-metadata` chunk (version 2: model_weights, model_hash, image {prompt, steps, cfg_scale, seed,
sampler, width, height}, where a prompt's [bracketed] words are its negative prompt)."""

from __future__ import annotations

import re
from typing import Any

import modelyard.images.metadata.values as values
from modelyard.images.metadata.found import Collector, Found

_BRACKETED = re.compile(r"\[([^\[\]]{0,2000})\]")


def parse_current(document: Any) -> Found | None:
    if not isinstance(document, dict):
        return None
    meta: dict[str, Any] = {
        "prompt": document.get("positive_prompt"),
        "negativePrompt": document.get("negative_prompt"),
        "seed": values.integer(document.get("seed")),
        "steps": values.integer(document.get("steps")),
        "cfgScale": values.number(document.get("cfg_scale")),
        "sampler": values.text(document.get("scheduler"), 64),
        "clipSkip": values.integer(document.get("clip_skip")) or None,
        "denoise": values.number(document.get("denoising_strength", document.get("strength"))),
        "software": _software(document.get("app_version")),
    }
    _size(document.get("width"), document.get("height"), meta)
    collector = Collector()
    model = document.get("model")
    if isinstance(model, dict):
        meta["Model"] = values.text(model.get("name"), 255)
        collector.add("checkpoint", model.get("name"), model.get("hash"))
    vae = document.get("vae")
    if isinstance(vae, dict):
        collector.add("vae", vae.get("name"), vae.get("hash"))
    for entry in document.get("loras", [])[:50] if isinstance(document.get("loras"), list) else []:
        lora = entry.get("model", entry.get("lora")) if isinstance(entry, dict) else None
        if isinstance(lora, dict):
            name = lora.get("name", lora.get("model_name"))
            collector.add("lora", name, lora.get("hash"), strength=entry.get("weight"))
    return _found(meta, collector)


def parse_legacy(document: Any) -> Found | None:
    if not isinstance(document, dict) or not isinstance(document.get("image"), dict):
        return None
    image: dict[str, Any] = document["image"]
    prompt = image.get("prompt")
    if isinstance(prompt, list):  # [{prompt, weight}, …]
        prompt = " ".join(str(part.get("prompt", "")) for part in prompt[:20] if isinstance(part, dict))
    negative = None
    if isinstance(prompt, str):
        negative = ", ".join(part.strip() for part in _BRACKETED.findall(prompt)) or None
        prompt = _BRACKETED.sub("", prompt)
    meta: dict[str, Any] = {
        "prompt": prompt,
        "negativePrompt": negative,
        "seed": values.integer(image.get("seed")),
        "steps": values.integer(image.get("steps")),
        "cfgScale": values.number(image.get("cfg_scale")),
        "sampler": values.text(image.get("sampler"), 64),
        "software": _software(document.get("app_version")),
    }
    _size(image.get("width"), image.get("height"), meta)
    collector = Collector()
    if document.get("model_weights") or document.get("model_hash"):
        meta["Model"] = values.text(document.get("model_weights"), 255)
        collector.add("checkpoint", document.get("model_weights"), document.get("model_hash"))
    return _found(meta, collector)


def _software(version: Any) -> str:
    found = values.text(version, 40)
    return f"InvokeAI {found}" if found else "InvokeAI"


def _size(width: Any, height: Any, meta: dict[str, Any]) -> None:
    found_width, found_height = values.integer(width), values.integer(height)
    if found_width and found_height:
        meta["width"], meta["height"], meta["Size"] = found_width, found_height, f"{found_width}x{found_height}"


def _found(meta: dict[str, Any], collector: Collector) -> Found | None:
    if collector.resources:
        meta["resources"] = collector.meta_list()
    cleaned = values.clean({key: value for key, value in meta.items() if value is not None})
    return Found(meta=cleaned, resources=tuple(collector.resources)) if cleaned else None
