"""ComfyUI: the `prompt` text chunk (the API-format graph, `{id: {class_type, inputs}}`, where an input is a value
or a link `[node id, output]`) and the `workflow` chunk (the editor's graph, kept, not read). A WebP from ComfyUI
carries the same in EXIF Model (`prompt:{…}`) and Make (`workflow:{…}`).

The graph is untrusted: nodes may be anything, links may point nowhere or in circles, values may be huge. Every
walk here is iterative, remembers what it visited and stops after a bounded number of steps.
"""

from __future__ import annotations

from typing import Any

import modelyard.images.metadata.values as values
from modelyard.images.metadata.found import Collector, Found

MAX_NODES = 5000
MAX_WALK = 256  # nodes visited by one walk
MAX_COMFY = 512 * 1024  # characters of the graph kept in `meta.comfy`
_SAMPLERS = ("KSampler", "KSamplerAdvanced", "KSampler (Efficient)", "KSampler Adv. (Efficient)", "SamplerCustom")
# Inputs a text walk follows, besides the side it walks (positive, negative).
_TEXT_INPUTS = ("text", "text_g", "text_l", "clip_l", "t5xxl", "string", "prompt", "value")
_FOLLOWED: tuple[str, ...] = ("conditioning", "conditioning_1", "conditioning_2", "conditioning_to")
_FOLLOWED += ("conditioning_from", "base_cond", "text_a", "text_b", "string_a", "string_b", "guider")
_PRIMITIVE_INPUTS = ("value", "seed", "noise_seed", "int", "float", "number")
# ComfyUI sampler and scheduler names as A1111 names them (what people search for and compare).
_SAMPLER_NAMES = {
    "euler": "Euler", "euler_ancestral": "Euler a", "heun": "Heun", "dpm_2": "DPM2", "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS", "dpm_fast": "DPM fast", "dpm_adaptive": "DPM adaptive", "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_sde": "DPM++ SDE", "dpmpp_sde_gpu": "DPM++ SDE", "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE", "dpmpp_3m_sde": "DPM++ 3M SDE", "dpmpp_3m_sde_gpu": "DPM++ 3M SDE",
    "ddim": "DDIM", "uni_pc": "UniPC", "uni_pc_bh2": "UniPC", "lcm": "LCM", "ddpm": "DDPM", "deis": "DEIS",
}  # fmt: skip
_SCHEDULER_SUFFIX = {"karras": " Karras", "exponential": " Exponential", "sgm_uniform": " SGM Uniform"}
_LOADERS = {
    "CheckpointLoaderSimple": ("checkpoint", "ckpt_name"), "CheckpointLoader": ("checkpoint", "ckpt_name"),
    "ImageOnlyCheckpointLoader": ("checkpoint", "ckpt_name"), "UNETLoader": ("checkpoint", "unet_name"),
    "UnetLoaderGGUF": ("checkpoint", "unet_name"), "VAELoader": ("vae", "vae_name"),
    "UpscaleModelLoader": ("upscaler", "model_name"), "ControlNetLoader": ("controlnet", "control_net_name"),
    "DiffControlNetLoader": ("controlnet", "control_net_name"), "CLIPVisionLoader": ("clipvision", "clip_name"),
}  # fmt: skip

Graph = dict[str, dict[str, Any]]


def sampler_name(sampler: Any, scheduler: Any) -> str | None:
    """A ComfyUI sampler (and scheduler) as A1111 names it ("dpmpp_2m", "karras" → "DPM++ 2M Karras")."""
    found = values.text(sampler, 64)
    if found is None:
        return None
    named = _SAMPLER_NAMES.get(found, found)
    return named + _SCHEDULER_SUFFIX.get(str(scheduler), "") if found in _SAMPLER_NAMES else named


def graph_of(raw: Any) -> Graph | None:
    """The nodes of an API-format graph (dicts with a `class_type`), at most MAX_NODES; None if there are none."""
    if not isinstance(raw, dict):
        return None
    graph = {
        str(key): node
        for key, node in list(raw.items())[:MAX_NODES]
        if isinstance(node, dict) and isinstance(node.get("class_type"), str)
    }
    return graph or None


def parse(prompt_text: str | None, workflow_text: str | None) -> Found | None:
    raw = values.load_json(_strip_label(prompt_text, "prompt"))
    workflow = values.load_json(_strip_label(workflow_text, "workflow"))
    graph = graph_of(raw)
    if graph is None:
        if not isinstance(workflow, dict):
            return None
        comfy = values.dumps_capped({"workflow": workflow}, MAX_COMFY)
        return Found(meta={"software": "ComfyUI", "comfy": comfy}) if comfy else None
    meta: dict[str, Any] = {}
    collector = Collector()
    sampler = _main_sampler(graph)
    if sampler is not None:
        _read_sampler(graph, sampler, meta)
    _loaders(graph, collector)
    _extra_airs(raw, collector)
    if collector.resources:
        meta["resources"] = collector.meta_list()
    model = next((found.name for found in collector.resources if found.kind == "checkpoint"), None)
    if model:
        meta["Model"] = model
    meta = values.clean(meta)
    meta["software"] = "ComfyUI"
    comfy = values.dumps_capped({"prompt": raw, "workflow": workflow}, MAX_COMFY) or values.dumps_capped(
        {"prompt": raw}, MAX_COMFY
    )
    if comfy:
        meta["comfy"] = comfy
    return Found(meta=meta, resources=tuple(collector.resources))


def _strip_label(text: str | None, label: str) -> str | None:
    """ComfyUI's WebP EXIF strings start with `prompt:` / `workflow:`."""
    if text and text.startswith(f"{label}:"):
        return text[len(label) + 1 :]
    return text


def _inputs(node: dict[str, Any] | None) -> dict[str, Any]:
    found = node.get("inputs") if node else None
    return found if isinstance(found, dict) else {}


def _linked(graph: Graph, value: Any) -> dict[str, Any] | None:
    """The node a link `[id, output]` points to."""
    if isinstance(value, list) and len(value) == 2 and type(value[0]) in (str, int):
        return graph.get(str(value[0]))
    return None


def _scalar(graph: Graph, value: Any) -> Any:
    """A value, or what a primitive node linked there holds (a seed or a size from a shared widget)."""
    for _ in range(4):
        node = _linked(graph, value)
        if node is None:
            return None if isinstance(value, list) else value
        inputs = _inputs(node)
        value = next((inputs[key] for key in _PRIMITIVE_INPUTS if key in inputs), None)
    return None


def _main_sampler(graph: Graph) -> dict[str, Any] | None:
    """The sampler that made the picture: the first (lowest id) of full strength, else the first."""
    samplers = [
        (key, node)
        for key, node in graph.items()
        if node["class_type"] in _SAMPLERS or node["class_type"] == "SamplerCustomAdvanced"
    ]
    samplers.sort(key=lambda item: (not item[0].isdigit(), len(item[0]), item[0]))
    for _key, node in samplers:
        denoise = values.number(_scalar(graph, _inputs(node).get("denoise", 1)))
        if denoise is None or denoise >= 0.99:
            return node
    return samplers[0][1] if samplers else None


def _read_sampler(graph: Graph, sampler: dict[str, Any], meta: dict[str, Any]) -> None:
    inputs = _inputs(sampler)
    if sampler["class_type"] == "SamplerCustomAdvanced":
        _read_custom_advanced(graph, inputs, meta)
    else:
        meta["seed"] = _scalar(graph, inputs.get("seed", inputs.get("noise_seed")))
        meta["steps"] = _scalar(graph, inputs.get("steps"))
        meta["cfgScale"] = _scalar(graph, inputs.get("cfg"))
        meta["scheduler"] = _scalar(graph, inputs.get("scheduler"))
        meta["sampler"] = sampler_name(_scalar(graph, inputs.get("sampler_name")), meta["scheduler"])
        meta["denoise"] = _scalar(graph, inputs.get("denoise"))
        meta["prompt"] = _text(graph, inputs.get("positive"), "positive")
        meta["negativePrompt"] = _text(graph, inputs.get("negative"), "negative")
    _latent_size(graph, inputs.get("latent_image"), meta)
    meta.update({key: values.number(meta[key]) for key in ("seed", "steps", "cfgScale", "denoise") if key in meta})
    if meta.get("cfgScale") is None and (guidance := _guidance(graph, inputs)) is not None:
        meta["cfgScale"] = guidance
    for key in [key for key, value in meta.items() if value is None]:
        del meta[key]


def _read_custom_advanced(graph: Graph, inputs: dict[str, Any], meta: dict[str, Any]) -> None:
    """SamplerCustomAdvanced: RandomNoise (seed), a guider (BasicGuider or CFGGuider), KSamplerSelect (sampler),
    BasicScheduler (scheduler, steps, denoise)."""
    noise = _inputs(_linked(graph, inputs.get("noise")))
    guider = _inputs(_linked(graph, inputs.get("guider")))
    chosen = _inputs(_linked(graph, inputs.get("sampler")))
    sigmas = _inputs(_linked(graph, inputs.get("sigmas")))
    meta["seed"] = _scalar(graph, noise.get("noise_seed"))
    meta["steps"] = _scalar(graph, sigmas.get("steps"))
    meta["denoise"] = _scalar(graph, sigmas.get("denoise"))
    meta["scheduler"] = _scalar(graph, sigmas.get("scheduler"))
    meta["sampler"] = sampler_name(_scalar(graph, chosen.get("sampler_name")), meta["scheduler"])
    meta["cfgScale"] = _scalar(graph, guider.get("cfg"))
    meta["prompt"] = _text(graph, guider.get("positive", guider.get("conditioning")), "positive")
    meta["negativePrompt"] = _text(graph, guider.get("negative"), "negative")


def _text(graph: Graph, start: Any, side: str) -> str | None:
    """The prompt text a conditioning input comes from: a walk back through conditioning nodes (combine,
    ControlNet, FluxGuidance…) to the text encoders and the string nodes feeding them."""
    texts: list[str] = []
    stack: list[Any] = [start]
    seen: set[str] = set()
    while stack and len(seen) < MAX_WALK:
        value = stack.pop()
        if isinstance(value, str):
            if value.strip() and value not in texts:
                texts.append(value.strip())
            continue
        if not isinstance(value, list) or len(value) != 2 or str(value[0]) in seen:
            continue
        seen.add(str(value[0]))
        inputs = _inputs(_linked(graph, value))
        for key in reversed((side, *_TEXT_INPUTS, *_FOLLOWED)):
            if key in inputs and (key in _TEXT_INPUTS or isinstance(inputs[key], list)):
                stack.append(inputs[key])
    return values.text(", ".join(texts)) if texts else None


def _guidance(graph: Graph, inputs: dict[str, Any]) -> Any:
    """Flux's guidance (FluxGuidance on the positive conditioning) stands for CFG."""
    stack: list[Any] = [inputs.get("positive"), inputs.get("guider")]
    seen: set[str] = set()
    while stack and len(seen) < MAX_WALK:
        value = stack.pop()
        node = _linked(graph, value)
        if node is None or str(value[0]) in seen:  # a link: `value` is [id, output]
            continue
        seen.add(str(value[0]))
        found = _inputs(node)
        if node["class_type"] == "FluxGuidance":
            return values.number(_scalar(graph, found.get("guidance")))
        stack.extend(found.get(key) for key in ("conditioning", "positive") if key in found)
    return None


def _latent_size(graph: Graph, start: Any, meta: dict[str, Any]) -> None:
    """Width and height of the empty latent the sampler starts from (through upscales and batches)."""
    value, seen = start, set[str]()
    while (node := _linked(graph, value)) is not None and len(seen) < 16 and str(value[0]) not in seen:
        seen.add(str(value[0]))
        inputs = _inputs(node)
        width = values.integer(_scalar(graph, inputs.get("width")))
        height = values.integer(_scalar(graph, inputs.get("height")))
        if width and height and 0 < width < 1 << 20 and 0 < height < 1 << 20:
            meta["width"], meta["height"], meta["Size"] = width, height, f"{width}x{height}"
            return
        value = inputs.get("samples", inputs.get("latent"))


def _loaders(graph: Graph, collector: Collector) -> None:
    for node in graph.values():
        kind, inputs = node["class_type"], _inputs(node)
        if kind in _LOADERS:
            resource, key = _LOADERS[kind]
            collector.add(resource, _loader_name(inputs.get(key)), air=_air_of(inputs.get(key)))
        elif "LoraLoader" in kind or "LoRALoader" in kind:
            _lora(inputs, collector)


def _lora(inputs: dict[str, Any], collector: Collector) -> None:
    """LoraLoader(ModelOnly) with its strength; a strength of about 0 means the LoRA was switched off. Stacked
    loaders (rgthree's Power Lora Loader) hold `{on, lora, strength}` entries."""
    entries: list[tuple[Any, Any]] = []
    if "lora_name" in inputs:
        entries.append((inputs["lora_name"], inputs.get("strength_model", inputs.get("strength", 1))))
    for value in list(inputs.values())[:64]:
        if isinstance(value, dict) and value.get("on") is not False and "lora" in value:
            entries.append((value.get("lora"), value.get("strength", 1)))
    for name, strength in entries:
        weight = values.number(strength)
        if weight is not None and abs(weight) < 1e-3:
            continue
        collector.add("lora", _loader_name(name), air=_air_of(name), strength=weight)


def _loader_name(value: Any) -> Any:
    return value if _air_of(value) else values.file_name(value)


def _air_of(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith("urn:air:") else None


def _extra_airs(raw: dict[str, Any], collector: Collector) -> None:
    """Graphs made on a Civitai-like site list their resources' AIRs in `extra.airs`."""
    extra = raw.get("extra")
    airs = extra.get("airs") if isinstance(extra, dict) else None
    if isinstance(airs, list):
        for air in airs[:50]:
            collector.add(None, None, air=air)
