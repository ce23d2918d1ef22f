"""Running a checked search over `search_document`: its filters, text matches, orders, facet counts and pages.

A search is a match set, (filters) AND (text), read once up to `search_count_cap` documents: that read gives the
total (a lower bound past the cap) and the ids the rest works from, so no later step tests the text row by row.
Then a page, in one of two orders:
- a stored order (newest, a metric, a trend window): plain SQL on the `(index, column, id)` indexes, by the ids
  when within the cap, by the conditions past it; a keyset cursor on (value, doc id);
- relevance to a text: a bounded candidate set (the `search_rank_candidates` most downloaded matches, the index's
  most downloaded documents always among them) is ranked by text rank (bm25 / ts_rank), exact and leading name
  matches and popularity. Hybrid and semantic searches fuse that ranking with the documents nearest in meaning
  (reciprocal rank fusion). A page is a slice of the ranking after the cursor's (score, doc id).
Facet counts come from the facet lines read with the matches; a facet the query filters on is counted from a
second read without its filter.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import ColumnElement, false, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from modelyard.core.errors import BadRequest
from modelyard.core.runtime import get_runtime
from modelyard.core.settings import Settings
from modelyard.search import cursor
from modelyard.search.backends import backend_for, base
from modelyard.search.backends.base import KeywordBackend, TextQuery, corrected, fold, words_of
from modelyard.search.models import SearchDocument
from modelyard.search.semantic.embedders import embedder, min_score
from modelyard.search.semantic.fusion import rrf
from modelyard.search.semantic.vectors import vector_index
from modelyard.search.types import FacetValue, Hit, SearchPage, SearchQuery, Sort

EXACT_NAME_BOOST = 0.5  # the name is the query
LEADING_NAME_BOOST = 0.25  # the name starts with the query
POPULARITY_WEIGHT = 0.1  # of the candidate's popularity relative to the most popular candidate
# The popularity that orders an index's candidates and breaks near-ties in relevance.
PRIOR = {"models": SearchDocument.downloads, "users": SearchDocument.downloads}
DEFAULT_PRIOR = SearchDocument.popularity
MAX_IN_LIST = 1000
SUGGESTION_CANDIDATES = 10  # names ranked per suggestion asked for; ten times as many matches read


@dataclass(frozen=True)
class Question:
    """A checked query (text cleaned, names validated), its words, and what its viewer may see."""

    query: SearchQuery
    text: TextQuery | None
    levels: int
    viewer_id: int | None
    moderator: bool


@dataclass(frozen=True)
class Ranked:
    doc_id: int
    entity_id: int
    score: float


@dataclass(frozen=True)
class Matched:
    """The text half of a search: the condition of its words (None: no text, or a search by meaning only), the
    documents near it in meaning, and the words as the spelling correction read them."""

    keyword: ColumnElement[bool] | None
    text: TextQuery | None
    semantic: list[Ranked]
    corrected_text: str | None = None

    @property
    def where(self) -> list[ColumnElement[bool]]:
        """The text's part of the match set: its words, or its meaning, or either."""
        if self.text is None:
            return []
        nearby = SearchDocument.id.in_([hit.doc_id for hit in self.semantic]) if self.semantic else None
        if self.keyword is None:
            return [nearby if nearby is not None else false()]
        return [or_(self.keyword, nearby) if nearby is not None else self.keyword]


def run(session: Session, question: Question) -> SearchPage:
    settings = get_runtime().settings
    query = question.query
    position = cursor.read(query, query.cursor) if query.cursor else None
    filters = conditions(session, question)
    matched = match_text(session, question, filters, settings)
    counted = bool(query.facets)
    cap = settings.search_count_cap
    matches = read_matches(session, query.index, [*filters, *matched.where], cap, with_facets=counted)
    few = settings.search_fuzzy_below
    found = _found_by_words(session, query.index, filters, matched, matches, few)
    if found is not None and found < few:
        matched = respelled(session, query.index, filters, matched, found, few)
        matches = read_matches(session, query.index, [*filters, *matched.where], cap, with_facets=counted)
    if matched.text is not None and query.sort is Sort.relevance:
        ranking = rank_matches(session, question, matched, matches, filters, settings)
        hits, more = _slice(ranking, position, query)
        last_value: Any = hits[-1].score if hits else None
    else:
        hits, more, last_value = _sorted_page(session, question, matches.selection(session), position)
    return SearchPage(
        hits=hits,
        facets=facet_counts(session, question, matched, matches, settings),
        total=len(matches.ids),
        total_is_lower_bound=matches.over_cap,
        next_cursor=cursor.write(query, last_value, hits[-1].doc_id) if more and hits else None,
        corrected_text=matched.corrected_text,
    )


@dataclass(frozen=True)
class Matches:
    """A search's matches, read once: their ids with their popularity (the first `cap` when there are more), and
    the conditions that select them all. Within the cap, later reads go by the ids (a bounded set, whatever its
    words); past it, by the conditions, along an index of the order asked (a match set that large is dense: a
    page of it is met at once). With `facets`, the same rows' facet lines (`search_document.facets`), counted
    without reading the matches again."""

    where: list[ColumnElement[bool]]
    popularity: dict[int, float]
    over_cap: bool
    facets: list[str] = dataclasses.field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return list(self.popularity)

    def selection(self, session: Session) -> list[ColumnElement[bool]]:
        return self.where if self.over_cap else [one_of(session, SearchDocument.id, self.ids)]


def read_matches(
    session: Session, index: str, where: list[ColumnElement[bool]], cap: int, *, with_facets: bool = False
) -> Matches:
    """The first `cap + 1` matches (with their facet lines if asked). On PostgreSQL through a materialised CTE:
    it is planned for all its rows (the GIN index gives them as a bitmap, every row read matches) and read only as
    far as the LIMIT asks. Planned for the LIMIT instead, a common word is looked for by reading the table and
    testing each row's text, several times as many rows for the same matches."""
    prior = PRIOR.get(index, DEFAULT_PRIOR)
    facets = SearchDocument.facets if with_facets else literal("")
    matching = select(SearchDocument.id.label("id"), prior.label("prior"), facets.label("facets")).where(*where)
    if session.get_bind().dialect.name == "postgresql":
        planned_whole = matching.cte("matches").prefix_with("MATERIALIZED")
        statement = select(planned_whole.c.id, planned_whole.c.prior, planned_whole.c.facets).limit(cap + 1)
    else:
        statement = matching.limit(cap + 1)
    rows = session.connection().execute(statement).all()
    over_cap = len(rows) > cap
    popularity = {int(doc_id): float(value) for doc_id, value, _ in rows[:cap]}
    lines = [str(line) for _, _, line in rows[:cap]] if with_facets else []
    return Matches(where, popularity, over_cap, lines)


def one_of(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    return base.one_of(session.get_bind().dialect.name, column, ids)


def conditions(
    session: Session, question: Question, *, without: str | None = None, text: bool | None = None
) -> list[ColumnElement[bool]]:
    """The filters of the question (all but facet `without`), its levels and the public/owner rule, for a
    statement that also matches the question's text (unless `text` is False)."""
    query = question.query
    backend = backend_for(session)
    levels = SearchDocument.nsfw_level.op("&")(question.levels) != 0
    with_text = question.text is not None if text is None else text
    found = [backend.in_index(query.index, text=with_text), levels]
    if not question.moderator:
        public: ColumnElement[bool] = SearchDocument.public.is_(True)
        if question.viewer_id is not None:
            public = or_(public, SearchDocument.user_id == question.viewer_id)
        found.append(public)
    for facet, values in query.filters.items():
        if facet != without:
            found.append(backend.has_term(facet, values))
    if query.user_id is not None:
        found.append(SearchDocument.user_id == query.user_id)
    if query.entity_ids:
        found.append(SearchDocument.entity_id.in_(query.entity_ids))
    if query.since is not None:
        found.append(SearchDocument.created_at >= query.since)
    return found


def match_text(session: Session, question: Question, filters: list[ColumnElement[bool]], settings: Settings) -> Matched:
    """The documents the text matches: by its words, by meaning, or both."""
    if question.text is None:
        return Matched(None, None, [])
    mode = question.query.mode
    keyword = backend_for(session).matches(question.text) if mode != "semantic" else None
    nearby = semantic_matches(session, question, filters, settings) if mode != "keyword" else []
    return Matched(keyword, question.text, nearby)


def _found_by_words(
    session: Session, index: str, filters: list[ColumnElement[bool]], matched: Matched, matches: Matches, few: int
) -> int | None:
    """How many documents the words alone find, counted up to `few` (what meaning adds does not count); None
    without words, or with spelling correction off."""
    if matched.keyword is None or few == 0:
        return None
    if not matched.semantic:
        return min(len(matches.ids), few)
    if len(matches.ids) >= few + len(matched.semantic):  # the meaning adds at most its own documents
        return few
    return len(read_matches(session, index, [*filters, matched.keyword], few).ids)


def respelled(
    session: Session, index: str, filters: list[ColumnElement[bool]], matched: Matched, found: int, few: int
) -> Matched:
    """When the words find too little: the words corrected to the closest ones the index holds (when that finds
    more), and where the backend can, names spelt close to the whole text as well."""
    assert matched.text is not None and matched.keyword is not None
    backend = backend_for(session)
    text, keyword = matched.text, matched.keyword
    spelled = corrected(session, backend, text)
    if spelled is not None:
        spelled_keyword = backend.matches(spelled)
        spelled_found = len(read_matches(session, index, [*filters, spelled_keyword], few).ids)
        if spelled_found > found:
            text, keyword, found = spelled, spelled_keyword, spelled_found
            matched = dataclasses.replace(matched, text=spelled, corrected_text=" ".join(spelled.words))
    near = backend.near_names(" ".join(text.words))
    if near is not None and found < few:
        keyword = or_(keyword, near)
    return dataclasses.replace(matched, keyword=keyword)


def semantic_matches(
    session: Session, question: Question, filters: list[ColumnElement[bool]], settings: Settings
) -> list[Ranked]:
    """The documents nearest the text in meaning, at or above the embedder's floor, that pass the filters; best
    first. With narrow filters (a creator, some ids) the nearest are looked for among the filtered documents."""
    vector = embedder().query(question.query.text)
    among = _narrowed(session, question, settings.search_count_cap)
    nearest = vector_index().nearest(
        session, question.query.index, vector, settings.search_semantic_candidates, among=among
    )
    floor = min_score()
    close = {doc_id: score for doc_id, score in nearest if score >= floor}
    entities = allowed_entities(session, filters, list(close))
    return [Ranked(doc_id, entities[doc_id], score) for doc_id, score in close.items() if doc_id in entities]


def _narrowed(session: Session, question: Question, cap: int) -> list[int] | None:
    query = question.query
    if not (query.filters or query.user_id is not None or query.entity_ids or query.since is not None):
        return None
    filters = conditions(session, question, text=False)  # this read has no text to drive it
    doc_ids = list(session.connection().execute(select(SearchDocument.id).where(*filters).limit(cap + 1)).scalars())
    return doc_ids if len(doc_ids) <= cap else None


def allowed_entities(session: Session, filters: list[ColumnElement[bool]], doc_ids: Sequence[int]) -> dict[int, int]:
    """doc id -> entity id of those of `doc_ids` that pass `filters`."""
    found: dict[int, int] = {}
    for start in range(0, len(doc_ids), MAX_IN_LIST):
        chunk = list(doc_ids[start : start + MAX_IN_LIST])
        rows = session.connection().execute(
            select(SearchDocument.id, SearchDocument.entity_id).where(*filters, SearchDocument.id.in_(chunk))
        )
        found.update((int(doc_id), int(entity_id)) for doc_id, entity_id in rows)
    return found


def rank_matches(
    session: Session,
    question: Question,
    matched: Matched,
    matches: Matches,
    filters: list[ColumnElement[bool]],
    settings: Settings,
) -> list[Ranked]:
    """The relevance ranking of a text search, best first: keyword, semantic, or both fused."""
    assert matched.text is not None
    keyword: list[Ranked] = []
    if matched.keyword is not None:
        index, size = question.query.index, settings.search_rank_candidates
        pool = candidate_pool(session, index, filters, matched.text, matches, size)
        # the matches by meaning are among the ids: keep those the words match
        words = [matched.keyword] if matched.semantic else []
        keyword = rank_keyword(session, index, matched.text, [one_of(session, SearchDocument.id, pool), *words])
    if question.query.mode == "keyword":
        return keyword
    if question.query.mode == "semantic":
        return sorted(matched.semantic, key=_best_first)
    return fuse(keyword, matched.semantic)


def fuse(keyword: Sequence[Ranked], nearby: Sequence[Ranked]) -> list[Ranked]:
    """Reciprocal rank fusion of the keyword ranking and the ranking by meaning."""
    entities = {hit.doc_id: hit.entity_id for hit in (*keyword, *nearby)}
    by_meaning = sorted(nearby, key=_best_first)
    fused = rrf([[hit.doc_id for hit in keyword], [hit.doc_id for hit in by_meaning]])
    return sorted((Ranked(doc_id, entities[doc_id], score) for doc_id, score in fused), key=_best_first)


def candidate_pool(
    session: Session, index: str, filters: list[ColumnElement[bool]], text: TextQuery, matches: Matches, size: int
) -> list[int]:
    """The `size` most popular documents relevance ranking chooses from: among the matches read (all of them, up
    to the cap), and past the cap also among those of the index's `size` most popular documents that match, so a
    broad query's best known answers are never left out of the sample. Those are read by id, and the backend
    checks the text on those ids alone: the text is never tested row by row along a popularity index, which for
    words of middling frequency reads most of the table. (Names spelt close to the text, which a search that
    finds few documents adds, never come into it: such a search is never past the cap.)"""
    popularity = dict(matches.popularity)
    if matches.over_cap:
        prior = PRIOR.get(index, DEFAULT_PRIOR)
        popular = select(SearchDocument.id).where(SearchDocument.index == index).order_by(prior.desc()).limit(size)
        backend = backend_for(session)
        among_popular = base.one_of_subquery(backend.dialect, SearchDocument.id, popular)
        if backend.dialect == "postgresql":  # the text tested on each of these rows, in the same statement
            rows = session.connection().execute(
                select(SearchDocument.id, prior).where(among_popular, *filters, backend.matches(text))
            )
            popularity.update((int(doc_id), float(value)) for doc_id, value in rows)
        else:  # FTS5 reads the text's matches and keeps these ids: SQLite would list every match to test them
            rows = session.connection().execute(select(SearchDocument.id, prior).where(among_popular, *filters))
            passing = {int(doc_id): float(value) for doc_id, value in rows}
            popularity.update((doc_id, passing[doc_id]) for doc_id in backend.rank(session, text, list(passing)))
    return sorted(popularity, key=lambda doc_id: (-popularity[doc_id], -doc_id))[:size]


def rank_keyword(session: Session, index: str, text: TextQuery, where: list[ColumnElement[bool]]) -> list[Ranked]:
    """The text ranking of the documents of `where` (a bounded set of ids), best first."""
    prior = PRIOR.get(index, DEFAULT_PRIOR)
    backend: KeywordBackend = backend_for(session)
    text_score = backend.rank_column(text)
    columns = [SearchDocument.id, SearchDocument.entity_id, SearchDocument.name, prior]
    chosen = [*columns, text_score] if text_score is not None else columns
    rows = session.connection().execute(select(*chosen).where(*where)).all()
    if text_score is not None:  # read with the rows
        text_rank = {int(row[0]): float(row[4]) for row in rows}
    else:
        text_rank = backend.rank(session, text, [row[0] for row in rows])
    best_text = max(text_rank.values(), default=0.0) or 1.0
    best_prior = math.log1p(max((max(float(row[3]), 0.0) for row in rows), default=0.0)) or 1.0
    phrase = " ".join(text.words)
    ranked = []
    for doc_id, entity_id, name, popularity, *_ in rows:
        score = text_rank.get(doc_id, 0.0) / best_text
        score += _name_boost(name, phrase)
        score += POPULARITY_WEIGHT * math.log1p(max(float(popularity), 0.0)) / best_prior
        ranked.append(Ranked(int(doc_id), int(entity_id), score))
    return sorted(ranked, key=_best_first)


def _name_boost(name: str, phrase: str) -> float:
    """The boost of a name that is the query's words, or starts with them."""
    if phrase.split(" ", 1)[0] not in fold(name):  # most names fail here, before their words are read
        return 0.0
    words = " ".join(words_of(name, limit=None))
    if words == phrase:
        return EXACT_NAME_BOOST
    return LEADING_NAME_BOOST if words.startswith(phrase) else 0.0


def _best_first(hit: Ranked) -> tuple[float, int]:
    return (-hit.score, -hit.doc_id)


def _slice(ranking: list[Ranked], position: tuple[Any, int] | None, query: SearchQuery) -> tuple[list[Hit], bool]:
    """The page of a computed ranking after `position` (score, doc id), or at the query's offset."""
    start = query.offset
    if position is not None:
        score, doc_id = float(position[0]), position[1]
        start = next((i for i, hit in enumerate(ranking) if (hit.score, hit.doc_id) < (score, doc_id)), len(ranking))
    window = ranking[start : start + query.limit + 1]
    hits = [Hit(hit.entity_id, hit.doc_id, hit.score) for hit in window[: query.limit]]
    return hits, len(window) > query.limit


def sort_column(query: SearchQuery) -> Any:
    if query.sort in (Sort.relevance, Sort.newest):
        return SearchDocument.created_at
    if query.sort is Sort.trending:
        return getattr(SearchDocument, f"trend_{query.window}")
    return getattr(SearchDocument, str(query.sort))


def _sorted_page(
    session: Session, question: Question, where: list[ColumnElement[bool]], position: tuple[Any, int] | None
) -> tuple[list[Hit], bool, Any]:
    """A page in a stored order, newest or highest first, ties by doc id; the last row's sort value."""
    query = question.query
    column = sort_column(query)
    statement = select(SearchDocument.id, SearchDocument.entity_id, column).where(*where)
    if position is not None:
        value, doc_id = position
        if isinstance(value, datetime) != (column is SearchDocument.created_at):
            raise BadRequest(cursor.BAD_CURSOR)
        statement = statement.where(tuple_(column, SearchDocument.id) < tuple_(literal(value, column.type), doc_id))
    rows = (
        session.connection()
        .execute(
            statement.order_by(column.desc(), SearchDocument.id.desc()).offset(query.offset).limit(query.limit + 1)
        )
        .all()
    )
    hits = [Hit(int(entity_id), int(doc_id), _as_score(value)) for doc_id, entity_id, value in rows[: query.limit]]
    last = rows[min(len(rows), query.limit) - 1][2] if rows else None
    return hits, len(rows) > query.limit, last


def _as_score(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def facet_counts(
    session: Session, question: Question, matched: Matched, matches: Matches, settings: Settings
) -> dict[str, list[FacetValue]]:
    """Counts of each asked facet's values among the matches (at most `search_count_cap` of them). A facet the
    query filters on is counted without its own filter, so its other values still show what choosing them adds."""
    query, cap = question.query, settings.search_count_cap
    counts: dict[str, dict[str, int]] = {facet: {} for facet in query.facets}
    unfiltered = [facet for facet in query.facets if facet not in query.filters]
    if unfiltered:
        _count_terms(unfiltered, matches.facets, counts)
    for facet in query.facets:
        if facet in query.filters:
            where = [*conditions(session, question, without=facet), *matched.where]
            others = read_matches(session, query.index, where, cap, with_facets=True)
            _count_terms([facet], others.facets, counts)
    return {facet: _most_frequent(values, settings.search_facet_values) for facet, values in counts.items()}


def _most_frequent(values: dict[str, int], limit: int) -> list[FacetValue]:
    ordered = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    return [FacetValue(value, found) for value, found in ordered[:limit]]


def _count_terms(facets: list[str], lines: list[str], counts: dict[str, dict[str, int]]) -> None:
    """Add the values of `facets` found in the documents' facet lines (`facet:value`, one per line) to `counts`."""
    found = Counter(chain.from_iterable(text.split("\n") for text in lines if text))
    for term, documents in found.items():
        facet, _, value = term.partition(":")
        if facet in counts and facet in facets:
            counts[facet][value] = documents


def allowed(session: Session, question: Question, doc_ids: Sequence[int]) -> list[int]:
    """Those of `doc_ids` that pass the question's filters, levels and public rule, in their order."""
    passing = allowed_entities(session, conditions(session, question), doc_ids)
    return [doc_id for doc_id in doc_ids if doc_id in passing]


def suggest_names(session: Session, question: Question, limit: int) -> list[Ranked]:
    """Documents whose name holds the text's words (the last one as a prefix), the best `limit`; misspelt words
    are corrected when nothing is found as typed."""
    assert question.text is not None
    backend = backend_for(session)
    ranked = _names_like(session, question, backend.matches(question.text), question.text, limit)
    if not ranked:
        spelled = corrected(session, backend, question.text)
        if spelled is not None:
            ranked = _names_like(session, question, backend.matches(spelled), spelled, limit)
    return ranked[:limit]


def _names_like(
    session: Session, question: Question, match: ColumnElement[bool], text: TextQuery, limit: int
) -> list[Ranked]:
    candidates = max(limit * SUGGESTION_CANDIDATES, SUGGESTION_CANDIDATES)
    filters = conditions(session, question)
    matches = read_matches(session, question.query.index, [*filters, match], candidates * SUGGESTION_CANDIDATES)
    pool = candidate_pool(session, question.query.index, filters, text, matches, candidates)
    return rank_keyword(session, question.query.index, text, [one_of(session, SearchDocument.id, pool)])
