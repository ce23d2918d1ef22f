"""SQLite FTS5: the embedded default's full-text index.

`search_fts` holds one row per document (rowid = `search_document.id`) with its name, keywords and body; FTS5
folds case and diacritics itself. A query is a conjunction of quoted words, the last one also as a prefix
(`"dragon" "sty"*`), answered from the prefix indexes. Ranking is bm25 with the name weighted over keywords over
body, computed only for a bounded candidate set: the `+rowid IN (...)` keeps SQLite from handing the list to FTS5
as one lookup per id (a fresh query each) and filters the match scan instead. Spelling corrections come from the
index's own vocabulary (`search_fts_vocab`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, bindparam, literal, literal_column, select, table, text
from sqlalchemy.orm import Session

from modelyard.search.backends.base import Entry, TextQuery
from modelyard.search.models import SearchDocument, SearchTerm

FIELD_WEIGHTS = {"name_weight": 10.0, "keywords_weight": 4.0, "body_weight": 1.0}
LAST_CHAR = "\U0010ffff"  # sorts after every string that starts with the same characters
BATCH = 500

_FTS = table("search_fts")
_INSERT = text("INSERT INTO search_fts(rowid, name, keywords, body) VALUES (:doc_id, :name, :keywords, :body)")
_DELETE = text("DELETE FROM search_fts WHERE rowid IN :ids").bindparams(bindparam("ids", expanding=True))
_RANK = text(
    "SELECT rowid, bm25(search_fts, :name_weight, :keywords_weight, :body_weight) FROM search_fts "
    "WHERE search_fts MATCH :expression AND +rowid IN :ids"
).bindparams(bindparam("ids", expanding=True))
_KNOWN = text("SELECT 1 FROM search_fts_vocab WHERE term = :word LIMIT 1")
_KNOWN_PREFIX = text("SELECT 1 FROM search_fts_vocab WHERE term >= :low AND term < :high LIMIT 1")
_VOCABULARY = text(
    "SELECT term, doc FROM search_fts_vocab WHERE term >= :low AND term < :high "
    "AND length(term) BETWEEN :shortest AND :longest"
)


def expression(query: TextQuery) -> str:
    """The FTS5 query: every word quoted (words hold only letters and digits, so a quote never appears in one)."""
    phrases = [f'"{word}"' for word in query.words]
    if query.prefix_word is not None:
        phrases[-1] += "*"
    joined = " ".join(phrases)
    return f"{{name}} : ({joined})" if query.names_only else joined


class SqliteBackend:
    dialect = "sqlite"

    def write(self, session: Session, entries: Sequence[Entry]) -> None:
        self.remove(session, [entry.doc_id for entry in entries])
        if entries:
            session.execute(
                _INSERT,
                [
                    {"doc_id": entry.doc_id, "name": entry.name, "keywords": entry.keywords, "body": entry.body}
                    for entry in entries
                ],
            )

    def remove(self, session: Session, doc_ids: Sequence[int]) -> None:
        for start in range(0, len(doc_ids), BATCH):
            session.execute(_DELETE, {"ids": list(doc_ids[start : start + BATCH])})

    def matches(self, query: TextQuery) -> ColumnElement[bool]:
        matching = literal_column("search_fts").op("MATCH")(literal(expression(query)))
        return SearchDocument.id.in_(select(literal_column("rowid")).select_from(_FTS).where(matching))

    def rank(self, session: Session, query: TextQuery, doc_ids: Sequence[int]) -> dict[int, float]:
        if not doc_ids:
            return {}
        rows = session.execute(_RANK, {"expression": expression(query), "ids": list(doc_ids), **FIELD_WEIGHTS})
        return {int(doc_id): -float(score) for doc_id, score in rows}  # bm25: the lower, the better

    def rank_column(self, query: TextQuery) -> ColumnElement[float] | None:
        return None  # bm25() needs its MATCH in the same statement, which would drop the rows it does not match

    def known(self, session: Session, word: str, *, prefix: bool) -> bool:
        if prefix:
            found = session.execute(_KNOWN_PREFIX, {"low": word, "high": word + LAST_CHAR}).first()
        else:
            found = session.execute(_KNOWN, {"word": word}).first()
        return found is not None

    def spellings(self, session: Session, word: str) -> list[tuple[str, int]]:
        """Vocabulary words that start with the same two letters, or with the first and third (the second was
        mistyped, doubled or swapped): a misspelling rarely starts wrong, and a range of the vocabulary is read
        instead of all of it."""
        spread = 2 if len(word) > 5 else 1
        found: dict[str, int] = {}
        for start in {word[:2], word[0] + word[2:3]}:
            rows = session.execute(
                _VOCABULARY,
                {
                    "low": start,
                    "high": start + LAST_CHAR,
                    "shortest": len(word) - spread,
                    "longest": len(word) + spread,
                },
            )
            found.update((str(term), int(documents)) for term, documents in rows)
        return list(found.items())

    def in_index(self, index: str, *, text: bool) -> ColumnElement[bool]:
        """With text, `index || ''`: SQLite keeps no statistics here, and given the plain column it reads every
        document of the index through `(index, ...)` and tests each against the list of the text's matches, where
        looking up the matches themselves reads only those (for a rare word, 2 ms instead of 18 at 100k)."""
        column = SearchDocument.index.concat("") if text else SearchDocument.index
        return column == index

    def has_term(self, facet: str, values: Sequence[str]) -> ColumnElement[bool]:
        having = select(SearchTerm.doc_id).where(SearchTerm.facet == facet, SearchTerm.value.in_(list(values)))
        return SearchDocument.id.in_(having)

    def near_names(self, text: str) -> ColumnElement[bool] | None:
        return None
