"""The search domain's vocabulary: what a source hands the index (`Document`), what a caller asks
(`SearchQuery`) and what it gets back (`SearchPage`)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

MAX_QUERY_CHARS = 200  # longer text is cut here (a 10,000-character query costs no more than this)
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 1000  # as deep as Civitai lets a client page by number


@dataclass(frozen=True)
class Document:
    """One entity as an index stores it. Text is plain (no HTML); `terms` are facet values (facet -> values)."""

    index: str
    entity_id: int
    name: str  # weight A
    created_at: datetime
    keywords: str = ""  # weight B
    body: str = ""  # weight C
    semantic_text: str = ""  # what is embedded; empty: name, keywords and body
    nsfw_level: int = 1
    user_id: int | None = None
    public: bool = True
    source_updated_at: datetime | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)  # keys from `models.METRICS`
    terms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class Sort(enum.StrEnum):
    relevance = "relevance"
    newest = "newest"
    downloads = "downloads"
    rating = "rating"
    likes = "likes"
    comments = "comments"
    collected = "collected"
    trending = "trending"


class Window(enum.StrEnum):
    """The time window of the trending sort."""

    day = "day"
    week = "week"
    month = "month"


Mode = Literal["keyword", "semantic", "hybrid"]


@dataclass(frozen=True)
class SearchQuery:
    """What a caller asks of one index. Several values of one facet are alternatives; facets are intersected.

    `levels`: the NSFW levels asked for, already narrowed by the caller to what the viewer may see (the service
    intersects it again with the viewer's own). `facets`: the facets to count. `cursor`: a page's `next_cursor`,
    valid only for the same question (otherwise a 400)."""

    index: str
    text: str = ""
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    levels: int | None = None
    user_id: int | None = None
    entity_ids: tuple[int, ...] = ()
    since: datetime | None = None  # created at or after
    sort: Sort = Sort.relevance
    window: Window = Window.week
    mode: Mode = "hybrid"
    facets: tuple[str, ...] = ()
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    offset: int = 0  # for clients that page by number (the public API's `page`); at most MAX_OFFSET


@dataclass(frozen=True)
class Hit:
    entity_id: int
    doc_id: int
    score: float  # the order's value: a relevance score, or the sorted metric


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int


@dataclass(frozen=True)
class SearchPage:
    hits: list[Hit]
    facets: dict[str, list[FacetValue]]
    total: int  # matches in all (capped: see `total_is_lower_bound`)
    total_is_lower_bound: bool
    next_cursor: str | None
    corrected_text: str | None = None  # the query as spelling correction read it, when it did
