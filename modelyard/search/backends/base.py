"""What a keyword backend does, and the text handling every backend shares.

A backend is the database's own full-text index behind one interface: it keeps each document's entry (`write`,
`remove`), says which documents match a text (`matches`, a condition on `search_document.id`), ranks a bounded
set of them (`rank`), and knows its vocabulary well enough to correct a misspelt word (`known`, `spellings`).

Query text never reaches a full-text engine as written: FTS5 MATCH and `to_tsquery` have their own syntax, so a
query is cut into words here (letters and digits only, folded the way both indexes fold them) and each backend
builds its query from those words, quoted by itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ARRAY, ColumnElement, Integer, Select, any_, cast, func, literal
from sqlalchemy.orm import Session

MAX_WORDS = 12  # a query's words past this add little and cost a posting list each
MAX_WORD_CHARS = 64
MIN_PREFIX_CHARS = 2  # the FTS5 prefix indexes start at 2 characters; a 1-character prefix matches half the index
ENTRY_MAX_CHARS = 65_536  # of each field, as the full-text index sees it (descriptions and prompts can be long)

_WORD = re.compile(r"[^\W_]+")
_LATIN_ACCENTS = re.compile(r"(?<=[A-Za-z\u00c0-\u024f])[\u0300-\u036f]+")  # combining marks after a Latin letter


def fold(text: str) -> str:
    """Lower case without the accents of Latin letters ("Café" -> "cafe"), as FTS5's `remove_diacritics` folds
    its tokens; other scripts' marks stay ("ドラゴン" keeps its dakuten)."""
    if text.isascii():
        return text.lower()
    stripped = _LATIN_ACCENTS.sub("", unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFC", stripped).lower()


def words_of(text: str, *, limit: int | None = MAX_WORDS) -> tuple[str, ...]:
    """The words of `text`, folded: runs of letters and digits (punctuation, symbols and emoji separate them)."""
    found = (word[:MAX_WORD_CHARS] for word in _WORD.findall(fold(text)))
    if limit is None:
        return tuple(found)
    return tuple(word for _, word in zip(range(limit), found, strict=False))


def plain_words(text: str) -> str:
    """`text` as space-separated folded words: what PostgreSQL's parser is given, so both databases see the same
    words ("SDXL-1.0" is "sdxl 1 0" on both, not a hyphenated word and a version number on one of them)."""
    return " ".join(words_of(text[:ENTRY_MAX_CHARS], limit=None))


@dataclass(frozen=True)
class TextQuery:
    """The words a document must all contain; `prefix`: the last word may also be the start of a longer one (the
    user is still typing it); `names_only`: only the name field counts (suggestions)."""

    words: tuple[str, ...]
    prefix: bool = True
    names_only: bool = False

    @property
    def prefix_word(self) -> str | None:
        last = self.words[-1] if self.words else ""
        return last if self.prefix and len(last) >= MIN_PREFIX_CHARS else None

    def replaced(self, words: tuple[str, ...]) -> TextQuery:
        return TextQuery(words, prefix=self.prefix, names_only=self.names_only)


@dataclass(frozen=True)
class Entry:
    """A document's text as its full-text entry holds it."""

    doc_id: int
    name: str
    keywords: str
    body: str


class KeywordBackend(Protocol):
    dialect: str

    def write(self, session: Session, entries: Sequence[Entry]) -> None:
        """Create or replace the entries of these documents (their `search_document` rows exist)."""

    def remove(self, session: Session, doc_ids: Sequence[int]) -> None:
        """Drop the entries of documents that are being deleted."""

    def matches(self, text: TextQuery) -> ColumnElement[bool]:
        """A condition on `search_document` that holds for the documents containing every word of `text`."""

    def rank(self, session: Session, text: TextQuery, doc_ids: Sequence[int]) -> dict[int, float]:
        """Text relevance of each of `doc_ids` (a bounded set) that matches `text`: higher is better; name counts
        more than keywords, keywords more than body."""

    def rank_column(self, text: TextQuery) -> ColumnElement[float] | None:
        """`rank` as a column of `search_document` (0 where the text does not match), for a backend that can
        compute it in the statement that reads the documents; None: call `rank`."""

    def known(self, session: Session, word: str, *, prefix: bool) -> bool:
        """Whether some document contains `word` (or, with `prefix`, a word starting with it)."""

    def spellings(self, session: Session, word: str) -> list[tuple[str, int]]:
        """Indexed words that `word` may be a misspelling of, with how many documents hold each: what the caller
        picks from by edit distance. Every index's words count (a tag's name helps a model search)."""

    def in_index(self, index: str, *, text: bool) -> ColumnElement[bool]:
        """A condition on `search_document` for the documents of `index`, in a search with or without `text`."""

    def has_term(self, facet: str, values: Sequence[str]) -> ColumnElement[bool]:
        """A condition on `search_document` that holds for the documents with one of `values` for `facet`."""

    def near_names(self, text: str) -> ColumnElement[bool] | None:
        """Documents whose name is close in spelling to the whole `text`, where the backend can find them cheaply
        (None where it cannot): for when the words themselves find too little."""


def one_of(dialect: str, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """`column IN ids`. On PostgreSQL as one array parameter, written as text: psycopg adapts a list of thousands
    of numbers element by element, and an IN list is as many parameters."""
    if dialect == "postgresql":
        array = "{" + ",".join(map(str, ids)) + "}"
        return column == any_(cast(literal(array), ARRAY(Integer)))
    return column.in_(list(ids))


def one_of_subquery(dialect: str, column: Any, ids: Select[Any]) -> ColumnElement[bool]:
    """`column IN (ids)`, a small subquery (one with a LIMIT). On PostgreSQL as `= ANY(ARRAY(...))`: the
    subquery runs first, alone, and its ids are looked up by index; as a semi-join the planner may read every row
    of the rest of the condition and hash them against it."""
    if dialect == "postgresql":
        return column == any_(func.array(ids.scalar_subquery()))
    return column.in_(ids.scalar_subquery())


def edit_distance(a: str, b: str, *, at_most: int) -> int:
    """Edit distance of `a` and `b` where a swap of two neighbours is one edit; anything over `at_most` is
    reported as `at_most + 1` (and found out early)."""
    if abs(len(a) - len(b)) > at_most:
        return at_most + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > at_most:
            return at_most + 1
        previous2, previous = previous, current
    return min(previous[-1], at_most + 1)


def allowed_edits(word: str) -> int:
    """How far a correction may be from `word`: none under 3 characters (too many neighbours), one up to 5, two
    beyond."""
    if len(word) < 3:
        return 0
    return 1 if len(word) <= 5 else 2


def closest_spelling(word: str, candidates: Sequence[tuple[str, int]]) -> str | None:
    """The candidate nearest to `word` within its allowed edits, the more common one winning a tie."""
    limit = allowed_edits(word)
    if limit == 0:
        return None
    best: tuple[int, int, str] | None = None
    for candidate, documents in candidates:
        if candidate == word:
            continue
        distance = edit_distance(word, candidate, at_most=limit)
        if distance <= limit and (best is None or (distance, -documents, candidate) < best):
            best = (distance, -documents, candidate)
    return best[2] if best else None


def corrected(session: Session, backend: KeywordBackend, text: TextQuery) -> TextQuery | None:
    """`text` with each word no document holds replaced by its closest known spelling; None when nothing was
    corrected. Numbers and short words are left as they are."""
    words = list(text.words)
    changed = False
    for position, word in enumerate(words):
        is_prefix = position == len(words) - 1 and text.prefix_word is not None
        if allowed_edits(word) == 0 or word.isdigit() or backend.known(session, word, prefix=is_prefix):
            continue
        spelling = closest_spelling(word, backend.spellings(session, word))
        if spelling is not None:
            words[position] = spelling
            changed = True
    return text.replaced(tuple(words)) if changed else None
