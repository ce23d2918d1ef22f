"""Search, the one entry point every caller uses: the catalog's listings, the image feed's text search, the
public API's `query`, the site's search page and its suggestions, and the semantic "similar" strip.

Everything a request hands in is checked here and refused with a 400 when it cannot be a question this index
answers (an unknown index, sort or facet, a page size past the limit, a cursor from elsewhere); the text is
cleaned and cut, never refused. What a viewer sees is decided here too: the NSFW levels asked for are narrowed to
the viewer's (Blocked only for moderators), and a document that is not public is found only by its owner and by
moderators.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts import browsing, policy
from modelyard.accounts.models import User
from modelyard.core.errors import BadRequest
from modelyard.core.nsfw import ALL_LEVELS, EVERY_LEVEL, BrowsingLevel
from modelyard.search import engine
from modelyard.search.backends.base import TextQuery, words_of
from modelyard.search.models import SearchDocument
from modelyard.search.types import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    SearchPage,
    SearchQuery,
    Sort,
    Window,
)

# The facets each index's documents carry (see the sources): what a query may filter on and count.
FACETS: dict[str, frozenset[str]] = {
    "models": frozenset(
        {
            "type",
            "base_model",
            "creator",
            "tag",
            "checkpoint_type",
            "file_format",
            "license",
            "early_access",
            "can_generate",
        }
    ),
    "images": frozenset({"tag", "base_model", "creator", "model"}),
    "users": frozenset(),
    "tags": frozenset(),
}
MODES = ("keyword", "semantic", "hybrid")
MAX_FILTER_VALUES = 50
MAX_VALUE_CHARS = 100
MAX_ENTITY_IDS = 1000
INT4 = range(-(2**31), 2**31)
SUGGESTED_INDEXES = ("models", "users", "tags")  # in the order they are shown
MAX_SUGGESTIONS = 20


@dataclass(frozen=True)
class Suggestion:
    index: str
    entity_id: int
    label: str


def search(
    session: Session, viewer: User | None, query: SearchQuery, *, allowed_levels: int | None = None
) -> SearchPage:
    """One page of `query`'s results for `viewer`, with facet counts, the total and the next page's cursor."""
    return engine.run(session, question(viewer, query, allowed_levels=allowed_levels))


def allowed_docs(
    session: Session,
    viewer: User | None,
    query: SearchQuery,
    doc_ids: Sequence[int],
    *,
    allowed_levels: int | None = None,
) -> list[int]:
    """Those of `doc_ids` (in their order) that `query`'s filters, levels and the public rule let `viewer` see;
    the query's text and page are ignored."""
    unpaged = dataclasses.replace(query, text="", cursor=None, offset=0, limit=DEFAULT_LIMIT)
    return engine.allowed(session, question(viewer, unpaged, allowed_levels=allowed_levels), doc_ids)


def suggest(
    session: Session, viewer: User | None, text: str, *, limit: int = 8, allowed_levels: int | None = None
) -> list[Suggestion]:
    """Names that start like `text` (its last word as a prefix, misspellings corrected): models first, then
    creators, then tags, each index getting a share of `limit` and passing what another leaves unused."""
    if not 1 <= limit <= MAX_SUGGESTIONS:
        raise BadRequest(f"Invalid limit: must be between 1 and {MAX_SUGGESTIONS}")
    found: dict[str, list[engine.Ranked]] = {}
    for index in SUGGESTED_INDEXES:
        asked = question(viewer, SearchQuery(index=index, text=text, mode="keyword"), allowed_levels=allowed_levels)
        if asked.text is None:
            return []
        names = dataclasses.replace(asked, text=dataclasses.replace(asked.text, names_only=True))
        found[index] = engine.suggest_names(session, names, limit)
    chosen = _shares(found, limit)
    labels = _names(session, [hit.doc_id for hits in chosen.values() for hit in hits])
    return [Suggestion(index, hit.entity_id, labels[hit.doc_id]) for index, hits in chosen.items() for hit in hits]


def question(viewer: User | None, query: SearchQuery, *, allowed_levels: int | None = None) -> engine.Question:
    """`query` checked (400 for what cannot be asked), its text cleaned, and the viewer's levels applied."""
    checked = checked_query(query)
    words = words_of(checked.text)
    moderator = policy.is_moderator(viewer)
    allowed = browsing.browsing_level(viewer) if allowed_levels is None else allowed_levels
    if moderator:
        allowed |= BrowsingLevel.Blocked  # moderators may ask for Blocked; nobody gets it unasked
    asked = checked.levels or (allowed & ALL_LEVELS)
    return engine.Question(
        query=checked,
        text=TextQuery(words) if words else None,
        levels=asked & allowed & (EVERY_LEVEL if moderator else ALL_LEVELS),
        viewer_id=viewer.id if viewer is not None else None,
        moderator=moderator,
    )


def checked_query(query: SearchQuery) -> SearchQuery:
    if query.index not in FACETS:
        raise BadRequest(f"Unknown index {str(query.index)[:40]!r}: one of {', '.join(sorted(FACETS))}")
    try:
        sort, window = Sort(query.sort), Window(query.window)
    except ValueError:
        raise BadRequest("Unknown sort or window") from None
    if query.mode not in MODES:
        raise BadRequest(f"Unknown mode: one of {', '.join(MODES)}")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise BadRequest(f"Invalid limit: must be between 1 and {MAX_LIMIT}")
    if not 0 <= query.offset <= MAX_OFFSET:
        raise BadRequest(f"Invalid offset: must be between 0 and {MAX_OFFSET}")
    if query.cursor and query.offset:
        raise BadRequest("Give a cursor or an offset, not both")
    facets = FACETS[query.index]
    unknown = sorted({*query.facets, *query.filters} - facets)
    if unknown:
        raise BadRequest(f"Unknown facet {unknown[0][:40]!r} for the {query.index} index")
    if query.user_id is not None and query.user_id not in INT4:
        raise BadRequest("Invalid user id")
    if len(query.entity_ids) > MAX_ENTITY_IDS or any(entity_id not in INT4 for entity_id in query.entity_ids):
        raise BadRequest(f"Invalid ids: at most {MAX_ENTITY_IDS}, each a 32-bit number")
    text = clean_text(query.text)
    return dataclasses.replace(
        query,
        text=text if words_of(text) else "",
        sort=sort,
        window=window,
        facets=tuple(dict.fromkeys(query.facets)),
        filters=_checked_filters(query),
        entity_ids=tuple(dict.fromkeys(query.entity_ids)),
        since=query.since.replace(tzinfo=UTC) if query.since and query.since.tzinfo is None else query.since,
    )


def clean_text(text: str) -> str:
    """The query text without control characters or lone surrogates, its spaces collapsed, cut to
    MAX_QUERY_CHARS."""
    kept = "".join(" " if unicodedata.category(char) in ("Cc", "Cs") else char for char in text[: MAX_QUERY_CHARS * 4])
    return " ".join(kept.split())[:MAX_QUERY_CHARS].strip()


def _checked_filters(query: SearchQuery) -> dict[str, tuple[str, ...]]:
    checked: dict[str, tuple[str, ...]] = {}
    for facet, values in query.filters.items():
        distinct = tuple(dict.fromkeys(values))
        if len(distinct) > MAX_FILTER_VALUES:
            raise BadRequest(f"Too many values for {facet!r}: at most {MAX_FILTER_VALUES}")
        for value in distinct:
            if len(value) > MAX_VALUE_CHARS or any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
                raise BadRequest(f"Invalid value for {facet!r}")
        if distinct:
            checked[facet] = distinct
    return checked


def _shares(found: dict[str, list[engine.Ranked]], limit: int) -> dict[str, list[engine.Ranked]]:
    """A quarter of `limit` each for creators and tags, the rest for models; what one leaves unused goes to the
    others, models first."""
    shares = {"models": limit - 2 * (limit // 4), "users": limit // 4, "tags": limit // 4}
    taken = {index: hits[: shares[index]] for index, hits in found.items()}
    room = limit - sum(len(hits) for hits in taken.values())
    for index, hits in found.items():
        extra = hits[len(taken[index]) : len(taken[index]) + room]
        taken[index] = taken[index] + extra
        room -= len(extra)
    return taken


def _names(session: Session, doc_ids: list[int]) -> dict[int, str]:
    if not doc_ids:
        return {}
    rows = session.execute(select(SearchDocument.id, SearchDocument.name).where(SearchDocument.id.in_(doc_ids)))
    return {int(doc_id): str(name) for doc_id, name in rows}
