"""What a parser found: the generation data as Civitai's `meta` keys, and the resources it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import modelyard.images.metadata.values as values
from modelyard.images.metadata.air import parse_air

MAX_RESOURCES = 50


@dataclass(frozen=True)
class FoundResource:
    """A model the image names: by file hash, by AIR, or (Civitai's `civitaiResources`) by catalog version id;
    a name alone links nothing but is shown."""

    kind: str | None  # checkpoint, lora, embedding, vae, hypernet, controlnet, upscaler…
    name: str | None
    hash: str | None  # as the file gives it (AutoV1/V2/V3, SHA256, BLAKE3, CRC32), lower-case hex
    air: str | None
    strength: float | None
    version_id: int | None = None  # a catalog version named by id (Civitai resources without an AIR)


@dataclass(frozen=True)
class Found:
    """The generation data of one image: `meta` (prompt, negativePrompt, steps, sampler, cfgScale, seed, Size,
    clipSkip, Model, "Model hash", hashes, resources, civitaiResources, comfy, software…) and its resources."""

    meta: dict[str, Any]
    resources: tuple[FoundResource, ...] = ()


@dataclass
class Collector:
    """Gathers a parser's resources, one per hash (or AIR, or kind and name), up to MAX_RESOURCES."""

    resources: list[FoundResource] = field(default_factory=list)
    _seen: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(
        self,
        kind: Any,
        name: Any = None,
        hash: Any = None,
        *,
        air: Any = None,
        strength: Any = None,
        version_id: Any = None,
    ) -> None:
        named_by_air = parse_air(name)  # ComfyUI loaders may name a file by its AIR
        parsed = parse_air(air) if air is not None else named_by_air
        found_hash = values.hash_value(hash)
        found_version = values.integer(version_id)
        if found_version is not None and not 0 < found_version < 2**31:
            found_version = None
        weight = values.number(strength)
        kind_text = values.text(kind, 24) or (parsed.type[:24] if parsed is not None else None)
        resource = FoundResource(
            kind=kind_text.lower() if kind_text else None,
            name=None if named_by_air is not None else values.text(name, 255),
            hash=found_hash,
            air=str(parsed) if parsed is not None else None,
            strength=float(weight) if weight is not None else None,
            version_id=found_version,
        )
        if not (resource.name or resource.hash or resource.air or resource.version_id):
            return
        key = self._key(resource)
        if key in self._seen:
            self._merge(self._seen[key], resource)
        elif len(self.resources) < MAX_RESOURCES:
            self._seen[key] = len(self.resources)
            self.resources.append(resource)

    @staticmethod
    def _key(resource: FoundResource) -> tuple[str, str]:
        if resource.hash:
            return ("hash", resource.hash)
        if resource.air:
            return ("air", resource.air)
        if resource.version_id:
            return ("version", str(resource.version_id))
        return ("name", f"{resource.kind}:{(resource.name or '').lower()}")

    def _merge(self, index: int, newer: FoundResource) -> None:
        """The same resource named twice (a hash list and a prompt tag): keep what each adds."""
        older = self.resources[index]
        self.resources[index] = FoundResource(
            kind=older.kind or newer.kind,
            name=older.name or newer.name,
            hash=older.hash or newer.hash,
            air=older.air or newer.air,
            strength=older.strength if older.strength is not None else newer.strength,
            version_id=older.version_id or newer.version_id,
        )

    def find_named(self, kind: str, name: str) -> int | None:
        lowered = name.lower()
        return next(
            (
                index
                for index, found in enumerate(self.resources)
                if found.kind == kind and (found.name or "").lower() == lowered
            ),
            None,
        )

    def add_hash_to_named(self, kind: str, name: Any, hash: Any, strength: Any = None) -> None:
        """A hash for a resource named earlier (a `<lora:name:w>` tag, then `Lora hashes`), or a new one."""
        found_name = values.text(name, 255)
        index = self.find_named(kind, found_name) if found_name else None
        found_hash = values.hash_value(hash)
        if index is None or found_hash is None:
            self.add(kind, found_name, hash, strength=strength)
            return
        older = self.resources[index]
        self.resources[index] = FoundResource(
            older.kind, older.name, older.hash or found_hash, older.air, older.strength, older.version_id
        )

    def meta_list(self) -> list[dict[str, Any]]:
        """The resources as `meta.resources` lists them (Civitai's {name, type, weight, hash})."""
        listed = []
        for found in self.resources:
            entry = {"name": found.name, "type": found.kind, "weight": found.strength, "hash": found.hash}
            if found.air:
                entry["air"] = found.air
            listed.append({key: value for key, value in entry.items() if value is not None})
        return listed
