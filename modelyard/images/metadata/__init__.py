"""Generation data read from an image file's own bytes (the private original: the public copy is stripped).

`read_metadata` finds the text a file carries (`exif`) and tries the readers in Civitai's order (reference
civitai.md §4.5): A1111/Forge infotext, SwarmUI, RuinedFooocus and Fooocus, InvokeAI, then ComfyUI. The first
that reads something wins. Uploaded files are hostile by default: reading never raises, and is bounded in time
and memory by the caps of each module (bytes of text per chunk and per file, JSON size, nodes walked, items kept).
"""

from __future__ import annotations

import logging

from modelyard.images.metadata import a1111, comfy, fooocus, invoke, swarm, values
from modelyard.images.metadata.exif import Texts, read_texts
from modelyard.images.metadata.found import Found, FoundResource

__all__ = ["Found", "FoundResource", "read_metadata"]

log = logging.getLogger(__name__)


def read_metadata(data: bytes) -> Found | None:
    """The generation data in an image file (PNG text chunks, EXIF UserComment of a JPEG or WebP, ComfyUI
    graphs), or None when it carries none we can read."""
    try:
        texts = read_texts(data)
        return None if texts.empty else _read(texts)
    except Exception:  # hostile files fail parsers in ways no list of exceptions covers; none may fail an upload
        log.warning("unreadable generation metadata", exc_info=True)
        return None


def _read(texts: Texts) -> Found | None:
    candidates = [texts.chunks.get("parameters"), texts.user_comment, texts.comment, texts.exif.get("ImageDescription")]
    for text in candidates:
        if not text:
            continue
        found = _read_text(text, texts)
        if found is not None:
            return found
    found = _read_invoke(texts)
    if found is not None:
        return found
    return _read_comfy(texts)


def _read_text(text: str, texts: Texts) -> Found | None:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        document = values.load_json(stripped)
        if swarm.detect(document):
            return swarm.parse(document)
        if fooocus.detect_ruined(document):
            return fooocus.parse_ruined(document)
        if fooocus.detect_fooocus(document, texts.chunks.get("fooocus_scheme")):
            return fooocus.parse_fooocus(document)
        if isinstance(document, dict) and comfy.graph_of(document) is not None:
            return comfy.parse(stripped, None)
        return None
    return a1111.parse(text) if a1111.detect(text) else None


def _read_invoke(texts: Texts) -> Found | None:
    if "invokeai_metadata" in texts.chunks:
        return invoke.parse_current(values.load_json(texts.chunks["invokeai_metadata"]))
    if "sd-metadata" in texts.chunks:
        return invoke.parse_legacy(values.load_json(texts.chunks["sd-metadata"]))
    return None


def _read_comfy(texts: Texts) -> Found | None:
    prompt, workflow = texts.chunks.get("prompt"), texts.chunks.get("workflow")
    for value in texts.exif.values():  # a ComfyUI WebP: "prompt:{…}" in Model, "workflow:{…}" in Make
        if prompt is None and value.startswith("prompt:"):
            prompt = value
        elif workflow is None and value.startswith("workflow:"):
            workflow = value
    if prompt is None and workflow is None:
        return None
    return comfy.parse(prompt, workflow)
