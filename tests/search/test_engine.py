"""The search engine on the real database of each test pass (SQLite FTS5 embedded, PostgreSQL full text scaled):
ranking, prefixes, misspellings, filters, facets, sorts, levels, who finds what, and keyset pages."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from modelyard.accounts.models import Role, User
from modelyard.core.errors import BadRequest
from modelyard.core.nsfw import BrowsingLevel
from modelyard.core.runtime import Runtime
from modelyard.search import semantic, service, store
from modelyard.search.models import SearchDocument
from modelyard.search.types import Document, SearchPage, SearchQuery, Sort, Window
from tests.support.factories import create_user

START = datetime(2026, 1, 1, tzinfo=UTC)


def model_doc(
    entity_id: int,
    name: str,
    *,
    keywords: str = "",
    body: str = "",
    terms: Mapping[str, tuple[str, ...]] | None = None,
    metrics: Mapping[str, float] | None = None,
    level: int = 1,
    user_id: int | None = None,
    public: bool = True,
    index: str = "models",
) -> Document:
    return Document(
        index=index,
        entity_id=entity_id,
        name=name,
        keywords=keywords,
        body=body,
        created_at=START + timedelta(days=entity_id),
        nsfw_level=level,
        user_id=user_id,
        public=public,
        metrics=metrics or {},
        terms=terms or {},
    )


def put(runtime: Runtime, *docs: Document) -> None:
    with runtime.db.transaction() as session:
        store.upsert(session, docs)


def search(runtime: Runtime, viewer_id: int | None = None, **asked: Any) -> SearchPage:
    asked.setdefault("index", "models")
    asked.setdefault("mode", "keyword")
    with runtime.db.session() as session:
        viewer = session.get(User, viewer_id) if viewer_id is not None else None
        return service.search(session, viewer, SearchQuery(**asked))


def found(runtime: Runtime, viewer_id: int | None = None, **asked: Any) -> list[int]:
    return [hit.entity_id for hit in search(runtime, viewer_id, **asked).hits]


def set_levels(runtime: Runtime, user_id: int, levels: int) -> None:
    with runtime.db.transaction() as session:
        session.execute(update(User).where(User.id == user_id).values(browsing_level=levels))


def test_name_outranks_keywords_and_keywords_outrank_body(runtime: Runtime) -> None:
    put(
        runtime,
        model_doc(1, "Castle walls", body="a dragon flies over the castle", metrics={"downloads": 900}),
        model_doc(2, "Fantasy pack", keywords="dragon wyvern", metrics={"downloads": 500}),
        model_doc(3, "Red Dragon", body="scales", metrics={"downloads": 10}),
        model_doc(4, "Portrait", body="a woman smiling"),
    )

    assert found(runtime, text="dragon") == [3, 2, 1]


def test_exact_name_comes_before_names_that_only_contain_the_words(runtime: Runtime) -> None:
    put(
        runtime,
        model_doc(1, "Anime Style Lineart", metrics={"downloads": 5000}),
        model_doc(2, "Anime Style", metrics={"downloads": 3}),
        model_doc(3, "Style of anime eyes", metrics={"downloads": 100}),
    )

    assert found(runtime, text="anime style")[0] == 2


def test_the_last_word_matches_as_a_prefix(runtime: Runtime) -> None:
    put(runtime, model_doc(1, "Photorealistic Portraits"), model_doc(2, "Pixel art"), model_doc(3, "Photo booth"))

    assert set(found(runtime, text="photo")) == {1, 3}
    assert found(runtime, text="pixel ar") == [2]


def test_a_misspelt_word_is_corrected_and_the_correction_is_told(runtime: Runtime) -> None:
    put(runtime, model_doc(1, "Dragon"), model_doc(2, "Ancient Dragon Scales"), model_doc(3, "Dinosaur"))

    page = search(runtime, text="dragn")

    assert {hit.entity_id for hit in page.hits} == {1, 2}
    assert page.corrected_text == "dragon"
    assert search(runtime, text="dragon").corrected_text is None


def test_a_long_word_is_corrected_within_two_edits(runtime: Runtime) -> None:
    put(runtime, model_doc(1, "Photorealistic skin"), model_doc(2, "Cartoon"))

    page = search(runtime, text="photorealstik")

    assert [hit.entity_id for hit in page.hits] == [1]
    assert page.corrected_text == "photorealistic"


def test_diacritics_and_case_do_not_matter(runtime: Runtime) -> None:
    put(runtime, model_doc(1, "Café Noir"), model_doc(2, "Cafeteria"))

    assert found(runtime, text="CAFE noir") == [1]


def test_facet_values_are_alternatives_and_facets_intersect(runtime: Runtime) -> None:
    put(
        runtime,
        model_doc(1, "One", terms={"type": ("LORA",), "base_model": ("SDXL 1.0",)}),
        model_doc(2, "Two", terms={"type": ("Checkpoint",), "base_model": ("SDXL 1.0",)}),
        model_doc(3, "Three", terms={"type": ("LORA",), "base_model": ("SD 1.5",)}),
        model_doc(4, "Four", terms={"type": ("TextualInversion",), "base_model": ("SDXL 1.0",)}),
    )

    either = found(runtime, filters={"type": ("LORA", "Checkpoint")}, sort=Sort.newest)
    both = found(runtime, filters={"type": ("LORA", "Checkpoint"), "base_model": ("SDXL 1.0",)}, sort=Sort.newest)

    assert either == [3, 2, 1]
    assert both == [2, 1]


def test_facet_counts_cover_the_matches_and_a_filtered_facet_keeps_its_other_values(runtime: Runtime) -> None:
    put(
        runtime,
        model_doc(1, "Anime girl", terms={"type": ("LORA",), "tag": ("anime", "girl")}),
        model_doc(2, "Anime city", terms={"type": ("LORA",), "tag": ("anime", "city")}),
        model_doc(3, "Anime base", terms={"type": ("Checkpoint",), "tag": ("anime",)}),
        model_doc(4, "Photo city", terms={"type": ("LORA",), "tag": ("city",)}),
    )

    page = search(runtime, text="anime", facets=("type", "tag"))
    narrowed = search(runtime, text="anime", facets=("type", "tag"), filters={"type": ("LORA",)})

    assert {value.value: value.count for value in page.facets["type"]} == {"LORA": 2, "Checkpoint": 1}
    assert [(value.value, value.count) for value in page.facets["tag"]] == [("anime", 3), ("city", 1), ("girl", 1)]
    assert page.total == 3 and not page.total_is_lower_bound
    assert {hit.entity_id for hit in narrowed.hits} == {1, 2}
    assert {value.value: value.count for value in narrowed.facets["type"]} == {"LORA": 2, "Checkpoint": 1}
    assert {value.value: value.count for value in narrowed.facets["tag"]} == {"anime": 2, "girl": 1, "city": 1}


def test_counts_past_the_cap_are_a_lower_bound(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    put(runtime, *(model_doc(n, f"Landscape {n}", terms={"type": ("LORA",)}) for n in range(1, 13)))
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"search_count_cap": 5}))

    page = search(runtime, sort=Sort.newest, facets=("type",), limit=3)

    assert page.total == 5 and page.total_is_lower_bound
    assert page.facets["type"][0].count == 5


@pytest.mark.parametrize(
    ("sort", "metric"),
    [
        (Sort.downloads, "downloads"),
        (Sort.rating, "rating"),
        (Sort.likes, "likes"),
        (Sort.comments, "comments"),
        (Sort.collected, "collected"),
    ],
)
def test_each_metric_sort_orders_highest_first(runtime: Runtime, sort: Sort, metric: str) -> None:
    put(
        runtime,
        model_doc(1, "Low", metrics={metric: 1}),
        model_doc(2, "High", metrics={metric: 30}),
        model_doc(3, "Middle", metrics={metric: 7}),
        model_doc(4, "Tie with middle", metrics={metric: 7}),
    )

    page = search(runtime, sort=sort)

    assert [hit.entity_id for hit in page.hits] == [2, 4, 3, 1]
    assert [hit.score for hit in page.hits] == [30, 7, 7, 1]


def test_newest_and_relevance_without_text_order_by_first_publication(runtime: Runtime) -> None:
    put(runtime, model_doc(2, "B"), model_doc(3, "C"), model_doc(1, "A"))

    assert found(runtime, sort=Sort.newest) == [3, 2, 1]
    assert found(runtime, sort=Sort.relevance) == [3, 2, 1]


@pytest.mark.parametrize("window", list(Window))
def test_trending_orders_by_the_window_asked(runtime: Runtime, window: Window) -> None:
    put(runtime, model_doc(1, "A"), model_doc(2, "B"), model_doc(3, "C"))
    trends = {1: {"day": 3.0, "week": 1.0, "month": 2.0}, 2: {"day": 1.0, "week": 3.0, "month": 1.0}}
    trends[3] = {"day": 2.0, "week": 2.0, "month": 3.0}
    with runtime.db.transaction() as session:
        for entity_id, values in trends.items():
            session.execute(
                update(SearchDocument)
                .where(SearchDocument.entity_id == entity_id)
                .values({f"trend_{name}": value for name, value in values.items()})
            )

    expected = sorted(trends, key=lambda entity_id: -trends[entity_id][str(window)])
    assert found(runtime, sort=Sort.trending, window=window) == expected


def test_text_with_a_sort_orders_the_matches_by_it(runtime: Runtime) -> None:
    put(
        runtime,
        model_doc(1, "Forest spirit", metrics={"downloads": 3}),
        model_doc(2, "Forest road", metrics={"downloads": 90}),
        model_doc(3, "Desert road", metrics={"downloads": 500}),
    )

    assert found(runtime, text="forest", sort=Sort.downloads) == [2, 1]


def test_creator_ids_and_date_filters(runtime: Runtime) -> None:
    put(runtime, model_doc(1, "A", user_id=7), model_doc(2, "B", user_id=8), model_doc(3, "C", user_id=7))

    assert found(runtime, user_id=7, sort=Sort.newest) == [3, 1]
    assert found(runtime, entity_ids=(2, 3, 99), sort=Sort.newest) == [3, 2]
    assert found(runtime, since=START + timedelta(days=2), sort=Sort.newest) == [3, 2]


def test_levels_are_narrowed_to_the_viewers_and_level_zero_matches_nothing(runtime: Runtime) -> None:
    pg, r_rated, x_rated = int(BrowsingLevel.PG), int(BrowsingLevel.R), int(BrowsingLevel.X)
    put(
        runtime,
        model_doc(1, "Safe", level=pg),
        model_doc(2, "Racy", level=r_rated),
        model_doc(3, "Explicit", level=x_rated),
        model_doc(4, "Unrated", level=0),
        model_doc(5, "Blocked", level=int(BrowsingLevel.Blocked)),
    )
    viewer = create_user(runtime)
    set_levels(runtime, viewer.id, pg | r_rated)

    assert found(runtime, sort=Sort.newest) == [1]  # anonymous: PG
    assert found(runtime, sort=Sort.newest, levels=63) == [1]  # asking for more is narrowed
    assert found(runtime, viewer.id, sort=Sort.newest) == [2, 1]
    assert found(runtime, viewer.id, sort=Sort.newest, levels=r_rated | x_rated) == [2]
    with runtime.db.session() as session:
        narrowed = service.search(session, None, SearchQuery(index="models", sort=Sort.newest), allowed_levels=r_rated)
    assert [hit.entity_id for hit in narrowed.hits] == [2]


def test_only_the_owner_and_moderators_find_a_document_that_is_not_public(runtime: Runtime) -> None:
    owner, stranger = create_user(runtime), create_user(runtime)
    moderator = create_user(runtime, role=Role.moderator)
    put(
        runtime,
        model_doc(1, "Hidden gem", user_id=owner.id, public=False),
        model_doc(2, "Open gem", user_id=stranger.id),
        model_doc(3, "Blocked gem", user_id=stranger.id, level=int(BrowsingLevel.Blocked)),
    )

    assert found(runtime, text="gem") == [2]
    assert found(runtime, stranger.id, text="gem") == [2]
    assert set(found(runtime, owner.id, text="gem")) == {1, 2}
    assert set(found(runtime, moderator.id, text="gem")) == {1, 2}
    assert set(found(runtime, moderator.id, text="gem", levels=int(BrowsingLevel.PG | BrowsingLevel.Blocked))) == {
        1,
        2,
        3,
    }
    assert set(found(runtime, owner.id, text="gem", levels=int(BrowsingLevel.PG | BrowsingLevel.Blocked))) == {1, 2}


@pytest.mark.parametrize("sort", [Sort.relevance, Sort.newest, Sort.downloads])
def test_cursor_pages_cover_every_match_once(runtime: Runtime, sort: Sort) -> None:
    put(
        runtime,
        *(model_doc(n, f"Knight {n}", body="armor " * (n % 4), metrics={"downloads": n % 5}) for n in range(1, 24)),
    )
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = search(runtime, text="knight armor" if sort is Sort.relevance else "", sort=sort, limit=5, cursor=cursor)
        seen.extend(hit.entity_id for hit in page.hits)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break

    expected = 18 if sort is Sort.relevance else 23  # the five with n % 4 == 0 have no "armor"
    assert len(seen) == len(set(seen)) == expected
    assert pages == -(-expected // 5)
    assert seen == found(runtime, text="knight armor" if sort is Sort.relevance else "", sort=sort, limit=100)


def test_an_offset_pages_like_a_cursor(runtime: Runtime) -> None:
    put(runtime, *(model_doc(n, f"Ship {n}", metrics={"downloads": n}) for n in range(1, 12)))

    everything = found(runtime, sort=Sort.downloads, limit=100)
    by_offset = [found(runtime, sort=Sort.downloads, limit=4, offset=offset) for offset in (0, 4, 8)]

    assert [entity for page in by_offset for entity in page] == everything
    assert found(runtime, text="ship", limit=3, offset=9) == found(runtime, text="ship", limit=100)[9:]


def test_a_cursor_of_another_question_or_altered_is_refused(runtime: Runtime) -> None:
    put(runtime, *(model_doc(n, f"Tower {n}") for n in range(1, 6)))
    page = search(runtime, text="tower", limit=2)
    assert page.next_cursor is not None
    payload, signature = page.next_cursor.split(".")

    assert search(runtime, text="tower", limit=2, cursor=page.next_cursor).hits  # the same question
    for other in ({"text": "towers"}, {"sort": Sort.newest}, {"filters": {"type": ("LORA",)}}, {"levels": 3}):
        with pytest.raises(BadRequest):
            search(runtime, **{"text": "tower", "limit": 2, "cursor": page.next_cursor, **other})
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for bad in (f"{flipped}.{signature}", f"{payload}.{signature[::-1]}", "garbage", "a.b.c", "x" * 5000):
        with pytest.raises(BadRequest):
            search(runtime, text="tower", limit=2, cursor=bad)


def test_deleted_documents_are_gone_from_results_facets_and_totals(runtime: Runtime) -> None:
    put(
        runtime,
        model_doc(1, "Moon lander", terms={"type": ("LORA",)}),
        model_doc(2, "Moon base", terms={"type": ("Checkpoint",)}),
    )
    with runtime.db.transaction() as session:
        store.delete(session, "models", [2])

    page = search(runtime, text="moon", facets=("type",))

    assert [hit.entity_id for hit in page.hits] == [1]
    assert page.total == 1
    assert [value.value for value in page.facets["type"]] == ["LORA"]


def test_indexes_are_searched_apart(runtime: Runtime) -> None:
    put(runtime, model_doc(1, "Neon"), model_doc(1, "Neon", index="tags"), model_doc(2, "neonfan", index="users"))

    assert found(runtime, text="neon") == [1]
    assert found(runtime, index="users", text="neon") == [2]
    assert found(runtime, index="tags", text="neon") == [1]


def test_suggestions_put_models_then_creators_then_tags(runtime: Runtime) -> None:
    put(
        runtime,
        model_doc(1, "Samurai Armor", metrics={"downloads": 5}),
        model_doc(2, "Samurai Girl", metrics={"downloads": 50}),
        model_doc(3, "Sunset", body="samurai in the sunset"),
        model_doc(10, "samurai_master", index="users"),
        model_doc(20, "samurai", index="tags"),
        model_doc(4, "Hidden samurai", public=False),
    )
    with runtime.db.session() as session:
        typed = service.suggest(session, None, "samu")
        misspelt = service.suggest(session, None, "samurei")

    expected = [("models", 2, "Samurai Girl"), ("models", 1, "Samurai Armor")]
    expected += [("users", 10, "samurai_master"), ("tags", 20, "samurai")]
    assert [(s.index, s.entity_id, s.label) for s in typed] == expected
    assert [(s.index, s.entity_id) for s in misspelt] == [(index, entity) for index, entity, _ in expected]


def test_suggestions_share_the_limit(runtime: Runtime) -> None:
    put(runtime, *(model_doc(n, f"Wolf {n}", metrics={"downloads": n}) for n in range(1, 10)))
    put(runtime, model_doc(1, "wolfie", index="users"), model_doc(1, "wolf", index="tags"))
    with runtime.db.session() as session:
        suggestions = service.suggest(session, None, "wolf", limit=4)

    assert [(s.index, s.entity_id) for s in suggestions] == [("models", 9), ("models", 8), ("users", 1), ("tags", 1)]


HYBRID_CORPUS = {
    "Realistic Vision": "Photorealistic portraits of people with natural skin texture, studio lighting.",
    "Flat Toon": "2D illustration of characters, flat colours, clean line art.",
    "Alpine Vistas": "Sweeping mountain landscapes, lakes at sunrise, misty valleys and dramatic skies.",
    "Supercar Garage": "Sports cars and classic automobiles, glossy paint, showroom reflections.",
    "Food Studio": "Appetizing food photography: burgers, desserts, plated dishes on rustic tables.",
    "Space Opera": "Starships, nebulae, alien planets and science fiction space battles.",
}


def put_embedded(runtime: Runtime, docs: list[Document]) -> None:
    with runtime.db.transaction() as session:
        semantic.embed_stored(session, store.upsert(session, docs))


def corpus_docs(**changes: Any) -> list[Document]:
    docs = [
        model_doc(n, name, body=body, terms={"type": ("LORA" if n % 2 else "Checkpoint",)})
        for n, (name, body) in enumerate(HYBRID_CORPUS.items(), start=1)
    ]
    return [dataclasses.replace(doc, **changes.get(doc.name, {})) for doc in docs]


def test_hybrid_finds_by_meaning_what_shares_no_word(runtime: Runtime) -> None:
    put_embedded(runtime, corpus_docs())
    flat_toon = 2

    keyword = found(runtime, text="anime style portrait")
    hybrid = found(runtime, text="anime style portrait", mode="hybrid")
    by_meaning = found(runtime, text="anime style portrait", mode="semantic")

    assert flat_toon not in keyword
    assert flat_toon in hybrid and flat_toon in by_meaning
    assert 4 not in hybrid  # cars are not near enough in meaning to count
    assert set(keyword) <= set(hybrid)


def test_hybrid_candidates_by_meaning_pass_the_same_filters(runtime: Runtime) -> None:
    put_embedded(runtime, corpus_docs(**{"Realistic Vision": {"public": False}}))

    lora_only = search(runtime, text="anime style portrait", mode="hybrid", filters={"type": ("Checkpoint",)})
    anonymous = found(runtime, text="portrait people", mode="hybrid")

    assert [hit.entity_id for hit in lora_only.hits] == [2]
    assert lora_only.total == 1
    assert 1 not in anonymous


def test_hybrid_pages_by_cursor_without_repeats(runtime: Runtime) -> None:
    put_embedded(runtime, corpus_docs())
    everything = found(runtime, text="photography of things", mode="hybrid", limit=100)
    seen: list[int] = []
    cursor = None
    while True:
        page = search(runtime, text="photography of things", mode="hybrid", limit=1, cursor=cursor)
        seen.extend(hit.entity_id for hit in page.hits)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert len(everything) >= 2
    assert seen == everything


def test_hybrid_corrects_a_misspelling_that_meaning_alone_would_have_covered(runtime: Runtime) -> None:
    put_embedded(runtime, corpus_docs())

    page = search(runtime, text="realistc vision", mode="hybrid")

    assert page.corrected_text == "realistic vision"
    assert page.hits[0].entity_id == 1
