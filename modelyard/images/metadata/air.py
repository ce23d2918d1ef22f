"""AIR identifiers (`urn:air:{ecosystem}:{type}:{source}:{id}[@{version}][+{fileId}][.{format}]`, reference
civitai.md §4.6), read strictly because they come from uploaded files: the prefix and all four segments are
required, type and source are lower-cased, id and version keep their case, and a `civitai` AIR needs a positive
integer model id and version (the version is what links an image to a catalog version).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_AIR = 300
_MAX_ID = 2**31 - 1
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}"
_AIR = re.compile(
    rf"urn:air:(?P<ecosystem>{_SEGMENT}):(?P<type>{_SEGMENT}):(?P<source>{_SEGMENT}):"
    r"(?P<rest>[^\s:@+][^\s@+]{0,199}(?:@[^\s@+]{1,200})?(?:\+\d{1,12})?(?:\.\w{1,20})?)"
)
_CIVITAI_REST = re.compile(
    r"(?P<id>\d{1,10})@(?P<version>\d{1,10})(?:\+(?P<file>\d{1,10}))?(?:\.(?P<format>\w{1,20}))?"
)
_OTHER_REST = re.compile(r"(?P<id>[^@+]+)(?:@(?P<version>[^+]+))?(?:\+(?P<file>\d+))?")


@dataclass(frozen=True)
class Air:
    ecosystem: str
    type: str
    source: str
    id: str
    version: str | None
    file_id: int | None = None
    format: str | None = None

    @property
    def civitai_version_id(self) -> int | None:
        """The catalog version this AIR names, for a `civitai` AIR."""
        return int(self.version) if self.source == "civitai" and self.version else None

    @property
    def civitai_model_id(self) -> int | None:
        return int(self.id) if self.source == "civitai" else None

    def __str__(self) -> str:
        found = f"urn:air:{self.ecosystem}:{self.type}:{self.source}:{self.id}"
        found += f"@{self.version}" if self.version else ""
        found += f"+{self.file_id}" if self.file_id is not None else ""
        return found + (f".{self.format}" if self.format else "")


def parse_air(value: object) -> Air | None:
    """The AIR in `value`, or None when it is not a well-formed one."""
    if not isinstance(value, str) or len(value) > MAX_AIR:
        return None
    match = _AIR.fullmatch(value.strip())
    if match is None:
        return None
    ecosystem, kind, source = match["ecosystem"].lower(), match["type"].lower(), match["source"].lower()
    rest = match["rest"]
    if source == "civitai":
        civitai = _CIVITAI_REST.fullmatch(rest)
        if civitai is None:
            return None
        model_id, version_id = int(civitai["id"]), int(civitai["version"])
        if not (0 < model_id <= _MAX_ID and 0 < version_id <= _MAX_ID):
            return None
        file_id = int(civitai["file"]) if civitai["file"] else None
        if file_id is not None and not 0 < file_id <= _MAX_ID:
            return None
        return Air(ecosystem, kind, source, str(model_id), str(version_id), file_id, civitai["format"])
    other = _OTHER_REST.fullmatch(rest)
    if other is None:
        return None
    file_id = int(other["file"]) if other["file"] else None
    return Air(ecosystem, kind, source, other["id"], other["version"], file_id)


def civitai_air(ecosystem: str, kind: str, model_id: int, version_id: int) -> str:
    """The AIR of a catalog version."""
    return f"urn:air:{ecosystem.lower()}:{kind.lower()}:civitai:{model_id}@{version_id}"
