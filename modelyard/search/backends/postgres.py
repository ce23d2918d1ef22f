"""PostgreSQL full text: the weighted `tsv` column of `search_document`, GIN-indexed, and trigrams on names.

Every field is parsed with the `simple` configuration: no stop words, no stemming. Names, tags and trigger words
are proper nouns, and an English stemmer reads this vocabulary badly ("anime", "animal" and "animation" are all
`anim`), which would swell a query's matches, its total and its facet counts with what it did not ask for; the
embedded FTS5 index does not stem either, so both databases find the same documents. Plurals and longer forms are
reached by the prefix on the last word. The query's words are ANDed, the last one also as a prefix (`'sty':*`), as
`websearch_to_tsquery` would read plain words, but built here from words the caller extracted: the query syntax of
`to_tsquery` is never exposed. The text is given to PostgreSQL as
the folded words `base.words_of` finds, so both databases split "SDXL-1.0" the same way.

Facet filters read `ix_search_fts_facets`, a GIN index on each document's facet lines as an array.

`pg_trgm` serves typo tolerance: names spelt close to a misspelt word give the corrections, and names close to
the whole text are added to the matches when the words find too little.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Float, Text, bindparam, cast, func, literal, literal_column, select, text
from sqlalchemy.orm import Session

from modelyard.search.backends.base import Entry, TextQuery, one_of, plain_words, words_of
from modelyard.search.models import SearchDocument

RANK_WEIGHTS = "{0.1, 0.2, 0.4, 1.0}"  # D (unused), C (body), B (keywords), A (name)
RANK_NORMALISATION = 1  # divide by 1 + log(length): a long prompt does not win by repeating a word
SPELLING_NAMES = 200  # names read for correction candidates
KNOWN_PROBE = 1000

_TSV: ColumnElement[Any] = literal_column("search_document.tsv")
_FACET_LINES: ColumnElement[Any] = literal_column("string_to_array(search_document.facets, E'\\n')")
_WRITE = text(
    "UPDATE search_document AS d SET tsv = "
    "setweight(to_tsvector('simple', v.name), 'A') || setweight(to_tsvector('simple', v.keywords), 'B') || "
    "setweight(to_tsvector('simple', v.body), 'C') "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:names AS text[]), CAST(:keywords AS text[]), "
    "CAST(:bodies AS text[])) AS v(id, name, keywords, body) WHERE d.id = v.id"
)
_SPELLING_NAMES = text("SELECT lower(name) FROM search_document WHERE lower(name) %> :word LIMIT :limit").bindparams(
    bindparam("limit", SPELLING_NAMES)
)


def tsquery(query: TextQuery) -> ColumnElement[Any]:
    """`to_tsquery('simple', ...)` of every word quoted (a word holds only letters and digits), ANDed; the last
    one also as a prefix; for suggestions, in the name only (weight A)."""
    weight = "A" if query.names_only else ""
    lexemes = []
    for position, word in enumerate(query.words):
        marks = ("*" if position == len(query.words) - 1 and query.prefix_word is not None else "") + weight
        lexemes.append(f"'{word}':{marks}" if marks else f"'{word}'")
    return func.to_tsquery(literal_column("'simple'::regconfig"), literal(" & ".join(lexemes)))


class PostgresBackend:
    dialect = "postgresql"

    def write(self, session: Session, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        session.execute(
            _WRITE,
            {
                "ids": [entry.doc_id for entry in entries],
                "names": [plain_words(entry.name) for entry in entries],
                "keywords": [plain_words(entry.keywords) for entry in entries],
                "bodies": [plain_words(entry.body) for entry in entries],
            },
        )

    def remove(self, session: Session, doc_ids: Sequence[int]) -> None:
        """Nothing to do: the entry is a column of the row being deleted."""

    def matches(self, query: TextQuery) -> ColumnElement[bool]:
        return _TSV.bool_op("@@")(tsquery(query))

    def rank(self, session: Session, query: TextQuery, doc_ids: Sequence[int]) -> dict[int, float]:
        if not doc_ids:
            return {}
        rows = session.connection().execute(
            select(SearchDocument.id, self.rank_column(query)).where(
                one_of(self.dialect, SearchDocument.id, doc_ids), self.matches(query)
            )
        )
        return {int(doc_id): float(value) for doc_id, value in rows}

    def rank_column(self, query: TextQuery) -> ColumnElement[float]:
        weights: ColumnElement[Any] = literal_column(f"'{RANK_WEIGHTS}'::float4[]")
        return func.ts_rank(weights, _TSV, tsquery(query), RANK_NORMALISATION, type_=Float)

    def known(self, session: Session, word: str, *, prefix: bool) -> bool:
        """Counted up to KNOWN_PROBE, not looked for with LIMIT 1: a word the statistics do not know is guessed
        at a few hundred documents, and for a single row the planner then reads the table from the start, every
        row of it when the word is in none."""
        probe = select(SearchDocument.id).where(self.matches(TextQuery((word,), prefix=prefix))).limit(KNOWN_PROBE)
        return bool(session.execute(select(func.count()).select_from(probe.subquery())).scalar_one())

    def spellings(self, session: Session, word: str) -> list[tuple[str, int]]:
        """The words of names that hold something close to `word` (trigram word similarity, on the name index)."""
        names = session.execute(_SPELLING_NAMES, {"word": word}).scalars()
        counts = Counter(candidate for name in names for candidate in set(words_of(str(name), limit=None)))
        return list(counts.items())

    def in_index(self, index: str, *, text: bool) -> ColumnElement[bool]:
        return SearchDocument.index == index

    def has_term(self, facet: str, values: Sequence[str]) -> ColumnElement[bool]:
        """The facet lines as an array overlapping the asked ones: the expression `ix_search_fts_facets` indexes,
        so a filter and the text are each read from their GIN index and the bitmaps combined."""
        wanted = cast(literal([f"{facet}:{value}" for value in values], ARRAY(Text)), ARRAY(Text))
        return _FACET_LINES.bool_op("&&")(wanted)

    def near_names(self, text: str) -> ColumnElement[bool]:
        return func.lower(SearchDocument.name).bool_op("%>")(" ".join(words_of(text)))
