"""What a request can hand the search service: hostile text is searched (cleaned, cut), never an error; a question
the index cannot answer (unknown names, page sizes, cursors with offsets, ids past 32 bits) is a 400."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelyard.core.errors import BadRequest
from modelyard.core.runtime import Runtime
from modelyard.search import service, store
from modelyard.search.types import MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, Document, SearchPage, SearchQuery, Sort

HOSTILE_TEXTS = [
    "",
    "   ",
    "a" * 10_000,
    "dragon " * 2_000,
    "\" * ( ) : ^ - + OR NEAR AND NOT ' ; \\ % _",
    'dragon" OR "1"="1',
    "dragon*",
    "NEAR(dragon castle, 2)",
    "name : dragon",
    "{name body} : dragon",
    "'; DROP TABLE search_document; --",
    "dragon\x00castle",
    "\x00\x01\x02\x1f\x7f",
    "dragon \ud800 castle",
    "🐉🐉🐉",
    "🐉 dragon",
    "مرحبا بالعالم",
    "\u202edragon\u202c",
    "ドラゴン",
    "%_%",
    "dragon:* & !castle | <->",
    "-dragon",
    "a",
    "1",
]


def put(runtime: Runtime, *docs: Document) -> None:
    with runtime.db.transaction() as session:
        store.upsert(session, docs)


def ask(runtime: Runtime, **asked: Any) -> SearchPage:
    asked.setdefault("index", "models")
    asked.setdefault("mode", "keyword")
    with runtime.db.session() as session:
        return service.search(session, None, SearchQuery(**asked))


@pytest.fixture
def dragons(runtime: Runtime) -> None:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    put(
        runtime,
        Document(index="models", entity_id=1, name="Dragon Castle", created_at=start, terms={"type": ("LORA",)}),
        Document(index="models", entity_id=2, name="ドラゴン", created_at=start + timedelta(days=1)),
        Document(index="models", entity_id=3, name="مرحبا", created_at=start + timedelta(days=2)),
    )


@pytest.mark.usefixtures("dragons")
@pytest.mark.parametrize("text", HOSTILE_TEXTS)
@pytest.mark.parametrize("sort", [Sort.relevance, Sort.downloads])
def test_hostile_text_is_searched_without_error(runtime: Runtime, text: str, sort: Sort) -> None:
    page = ask(runtime, text=text, sort=sort, facets=("type",))

    assert page.total >= len(page.hits)
    if page.next_cursor:
        ask(runtime, text=text, sort=sort, facets=("type",), cursor=page.next_cursor)
    with runtime.db.session() as session:
        service.suggest(session, None, text)


@pytest.mark.usefixtures("dragons")
def test_hostile_text_still_finds_its_words(runtime: Runtime) -> None:
    assert [hit.entity_id for hit in ask(runtime, text="dragon\x00castle").hits] == [1]
    assert [hit.entity_id for hit in ask(runtime, text='dragon" OR "1"="1').hits] == []
    assert [hit.entity_id for hit in ask(runtime, text="🐉 dragon").hits] == [1]
    assert [hit.entity_id for hit in ask(runtime, text="ドラゴン").hits] == [2]
    assert [hit.entity_id for hit in ask(runtime, text="مرحبا").hits] == [3]


@pytest.mark.usefixtures("dragons")
def test_text_of_punctuation_only_browses(runtime: Runtime) -> None:
    page = ask(runtime, text="\" * ( ) : ^ - + ' ; \\ % _")

    assert [hit.entity_id for hit in page.hits] == [3, 2, 1]


def test_long_text_is_cut() -> None:
    cleaned = service.clean_text("x" * 10_000)
    assert len(cleaned) == MAX_QUERY_CHARS
    assert service.clean_text(" a\x00b\tc\n\ud800d ") == "a b c d"


@pytest.mark.parametrize(
    "asked",
    [
        {"index": "nope"},
        {"index": "models'; --"},
        {"sort": "sideways"},
        {"window": "year"},
        {"mode": "psychic"},
        {"limit": 0},
        {"limit": MAX_LIMIT + 1},
        {"limit": -5},
        {"offset": -1},
        {"offset": MAX_OFFSET + 1},
        {"offset": 20, "cursor": "abc.def"},
        {"facets": ("colour",)},
        {"filters": {"colour": ("red",)}},
        {"index": "users", "facets": ("type",)},
        {"filters": {"type": tuple(f"v{n}" for n in range(service.MAX_FILTER_VALUES + 1))}},
        {"filters": {"type": ("x" * 101,)}},
        {"filters": {"type": ("LORA\x00",)}},
        {"user_id": 2**31},
        {"entity_ids": (1, 2**40)},
        {"entity_ids": tuple(range(service.MAX_ENTITY_IDS + 1))},
        {"cursor": "not a cursor"},
        {"cursor": "x" * 10_000},
    ],
)
def test_a_question_the_index_cannot_answer_is_refused(runtime: Runtime, asked: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        ask(runtime, **asked)


def test_allowed_docs_checks_the_query_too(runtime: Runtime) -> None:
    with runtime.db.session() as session, pytest.raises(BadRequest):
        service.allowed_docs(session, None, SearchQuery(index="models", filters={"colour": ("red",)}), [1])


@pytest.mark.parametrize("limit", [0, service.MAX_SUGGESTIONS + 1])
def test_suggestions_refuse_a_limit_out_of_range(runtime: Runtime, limit: int) -> None:
    with runtime.db.session() as session, pytest.raises(BadRequest):
        service.suggest(session, None, "dragon", limit=limit)


@pytest.mark.usefixtures("dragons")
def test_a_naive_since_is_read_as_utc(runtime: Runtime) -> None:
    page = ask(runtime, since=datetime(2026, 2, 2), sort=Sort.newest)

    assert [hit.entity_id for hit in page.hits] == [3, 2]
