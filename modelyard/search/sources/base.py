"""What an index reads its documents from: a `Source` per index, and the registry the indexer, the reconciler and
the rebuild look them up in."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

import nh3
from sqlalchemy.orm import Session

from modelyard.search.types import Document


class Source(Protocol):
    """Turns an index's entities into documents. Each method reads a whole batch in a fixed number of queries."""

    index: str

    def load(self, session: Session, entity_ids: Sequence[int]) -> dict[int, Document | None]:
        """The document of each id; None for an entity that is gone or must not be indexed (unpublished,
        deleted, hidden by moderation)."""
        ...

    def ids(self, session: Session, *, after: int = 0, limit: int = 1000) -> list[int]:
        """Indexable ids greater than `after`, ascending, at most `limit`: paging through them visits them all."""
        ...

    def stamps(self, session: Session, entity_ids: Sequence[int]) -> dict[int, datetime | None]:
        """The `source_updated_at` the documents of these ids would carry now (what the reconciler compares
        with the stored documents' own); ids that are not indexable may be left out."""
        ...


_sources: dict[str, Source] = {}


def register(source: Source) -> None:
    """Make an index of `source.index`; registering the same index again replaces its source."""
    _sources[source.index] = source


def source(index: str) -> Source:
    found = _sources.get(index)
    if found is None:
        raise LookupError(f"no search index named {index!r}")
    return found


def indexes() -> list[str]:
    return list(_sources)


# --- helpers the sources share ----------------------------------------------------------------------------------


def plain_text(markup: str | None) -> str:
    """Text without tags or entities, whitespace folded: what a description's HTML (or markdown) says."""
    if not markup:
        return ""
    # A space before each tag keeps the words of adjacent blocks ("<p>one</p><p>two</p>") apart.
    return " ".join(html.unescape(nh3.clean(markup.replace("<", " <"), tags=set())).split())


def latest(*moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return max(present) if present else None


def words(values: Iterable[str | None]) -> str:
    """Distinct non-empty values in their first order, joined by spaces."""
    seen: dict[str, None] = {}
    for value in values:
        text = (value or "").strip()
        if text:
            seen.setdefault(text, None)
    return " ".join(seen)


def batched(ids: Iterable[int], size: int) -> Iterable[list[int]]:
    chunk: list[int] = []
    for entity_id in ids:
        chunk.append(entity_id)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
