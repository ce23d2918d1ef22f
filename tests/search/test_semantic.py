"""Semantic search (`search.semantic`): the embedder, stored embeddings, the in-memory vector index kept fresh from
the database, reciprocal rank fusion, and "similar" documents."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Collection
from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from modelyard.search import semantic
from modelyard.search.models import SearchDocument, SearchEmbedding
from modelyard.search.semantic.embeddings import encode_vector
from modelyard.search.semantic.vectors import MemoryVectorIndex

# Realistic model descriptions; the anime one shares no word with "anime style portrait".
CORPUS = {
    "Realistic Vision": "Photorealistic portraits of people with natural skin texture, studio lighting and shallow "
    "depth of field.",
    "Flat Toon": "2D illustration of characters, flat colours, clean line art.",
    "Alpine Vistas": "Sweeping mountain landscapes, lakes at sunrise, misty valleys and dramatic skies.",
    "Supercar Garage": "Sports cars and classic automobiles, glossy paint, showroom reflections, racing liveries.",
    "Brutalist Blocks": "Architecture renders: concrete buildings, modern interiors, facades and city skylines.",
    "Dark Fantasy Armor": "Knights in ornate plate armour, gothic battlefields, moody fantasy concept art.",
    "Watercolor Wash": "Soft watercolor painting effect with paper texture and bleeding pigments.",
    "Pixel Hero": "Retro 16-bit pixel art sprites and tilesets for games.",
    "Food Studio": "Appetizing food photography: burgers, desserts, plated dishes on rustic tables.",
    "Cyber Streets": "Neon-lit cyberpunk city streets at night, rain, holograms and futuristic signage.",
    "Cute Critters": "Fluffy cartoon animals, chibi pets with big eyes, kawaii stickers.",
    "Product Shots": "Clean e-commerce product photography on white backgrounds, sneakers, bottles, gadgets.",
    "Oil Masters": "Classical oil painting in the style of old masters, rich brushwork, chiaroscuro.",
    "Space Opera": "Starships, nebulae, alien planets and science fiction space battles.",
    "Interior Design XL": "Cozy living rooms, Scandinavian furniture, kitchen and bedroom interior design.",
    "Tattoo Flash": "Black ink tattoo designs, traditional flash sheets, linework and stippling.",
    "Wildlife Lens": "Wild animals in nature: lions, birds of prey, wolves, telephoto wildlife photography.",
    "Logo Maker": "Minimal vector logos, icons and flat brand marks.",
    "Vintage Film": "Analog film look with grain, faded colours and 1970s snapshot aesthetics.",
    "Clay Figures": "Claymation style 3D figurines, plasticine characters and stop-motion sets.",
    "Fashion Editorial": "High fashion models on the runway, magazine covers, haute couture outfits.",
    "Horror Nights": "Creepy haunted houses, monsters, zombies and horror movie atmosphere.",
}


@dataclasses.dataclass(frozen=True)
class Written:
    """What the document store reports of a document it wrote (the fields `embed_stored` reads)."""

    doc_id: int
    index: str
    entity_id: int
    semantic_text: str
    text_hash: str
    text_changed: bool


def text_hash(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def add_documents(runtime: Runtime, texts: dict[str, str], *, index: str = "models", first_entity: int = 1) -> dict:
    """A search document per name, embedded; returns name -> doc id."""
    with runtime.db.transaction() as session:
        docs = {
            name: SearchDocument(index=index, entity_id=first_entity + n, name=name, body=body, created_at=utcnow())
            for n, (name, body) in enumerate(texts.items())
        }
        session.add_all(docs.values())
        session.flush()
        written = [
            Written(doc.id, index, doc.entity_id, f"{name}. {doc.body}", text_hash(f"{name}. {doc.body}"), True)
            for name, doc in docs.items()
        ]
        semantic.embed_stored(session, written)
    return {name: doc.id for name, doc in docs.items()}


def nearest_names(
    runtime: Runtime, ids: dict, text: str, k: int = 3, *, among: Collection[int] | None = None
) -> list[str]:
    names = {doc_id: name for name, doc_id in ids.items()}
    with runtime.db.session() as session:
        found = semantic.nearest(session, "models", semantic.embedder().query(text), k, among=among)
    return [names[doc_id] for doc_id, _score in found]


@pytest.fixture
def corpus(runtime: Runtime) -> dict:
    return add_documents(runtime, CORPUS)


# --- the embedder -------------------------------------------------------------------------------------------------


def test_passages_are_normalised_rows_of_the_embedder_dimension(runtime: Runtime) -> None:
    model = semantic.embedder()

    vectors = model.passages(["a knight in armour", "a bowl of ramen", "x" * 10_000, "nul\x00byte and emoji 🐉"])

    assert vectors.shape == (4, model.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert model.passages([]).shape == (0, model.dim)


def test_a_query_is_a_normalised_vector_kept_for_the_next_time(runtime: Runtime) -> None:
    model = semantic.embedder()

    vector = model.query("anime style portrait")

    assert vector.shape == (model.dim,) and vector.dtype == np.float32
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)
    assert model.query("  anime   style portrait ") is vector  # same text once cleaned: from the cache
    assert not vector.flags.writeable  # a caller cannot spoil the cached vector
    assert model.query("\x00" * 50 + "🙂" * 5000).shape == (model.dim,)


def test_e5_embeds_a_query_and_a_passage_of_the_same_text_differently(runtime: Runtime) -> None:
    """e5 reads "query: " and "passage: " prefixes: the same text as a query is not the same vector."""
    model = semantic.embedder()

    assert not np.allclose(model.query("mountain lake"), model.passages(["mountain lake"])[0])


# --- meaning -----------------------------------------------------------------------------------------------------


def test_a_paraphrase_sharing_no_word_ranks_among_the_first_three(runtime: Runtime, corpus: dict) -> None:
    assert "Flat Toon" in nearest_names(runtime, corpus, "anime style portrait")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("automobile", "Supercar Garage"), ("skyscraper", "Brutalist Blocks"), ("outer space", "Space Opera")],
)
def test_one_word_finds_its_topic_first(runtime: Runtime, corpus: dict, text: str, expected: str) -> None:
    assert nearest_names(runtime, corpus, text, k=1) == [expected]


def test_a_paraphrase_clears_the_floor_and_nonsense_does_not(runtime: Runtime, corpus: dict) -> None:
    model = semantic.embedder()
    with runtime.db.session() as session:
        paraphrase = semantic.nearest(session, "models", model.query("automobile"), 1)
        nonsense = semantic.nearest(session, "models", model.query("kjhgfdsa poiuytre"), 5)

    assert paraphrase[0][1] >= semantic.min_score()
    assert nonsense and all(score < semantic.min_score() for _doc_id, score in nonsense)


# --- the vector index ---------------------------------------------------------------------------------------------


def test_among_restricts_the_answer_to_those_documents(runtime: Runtime, corpus: dict) -> None:
    among = {corpus["Pixel Hero"], corpus["Food Studio"], 10**12}

    found = nearest_names(runtime, corpus, "automobile", k=5, among=among)

    assert sorted(found) == ["Food Studio", "Pixel Hero"]
    assert nearest_names(runtime, corpus, "automobile", among=set()) == []


def test_scores_are_cosines_best_first(runtime: Runtime, corpus: dict) -> None:
    query = semantic.embedder().query("knight")
    with runtime.db.session() as session:
        found = semantic.nearest(session, "models", query, len(CORPUS) + 5)
        stored = semantic.vector_of(session, corpus["Dark Fantasy Armor"])

    assert len(found) == len(CORPUS)
    assert [score for _doc, score in found] == sorted((score for _doc, score in found), reverse=True)
    assert stored is not None
    assert dict(found)[corpus["Dark Fantasy Armor"]] == pytest.approx(float(stored @ query), abs=1e-5)


def test_a_document_embedded_by_this_process_is_found_by_the_next_query(runtime: Runtime, corpus: dict) -> None:
    assert "Origami Paper" not in nearest_names(runtime, corpus, "folded paper cranes")  # the matrix is loaded

    corpus |= add_documents(runtime, {"Origami Paper": "Folded paper cranes and origami art."}, first_entity=100)

    assert nearest_names(runtime, corpus, "folded paper cranes", k=1) == ["Origami Paper"]


def write_origami(session: Session, entity_id: int, *, stamped: datetime | None = None) -> int:
    """A document and its embedding written straight to the tables, as another process would: no commit hook of
    this one announces them. Returns the doc id."""
    model = semantic.embedder()
    doc = SearchDocument(index="models", entity_id=entity_id, name="Origami Paper", created_at=utcnow())
    session.add(doc)
    session.flush()
    vector = model.passages(["Origami Paper. Folded paper cranes and origami art."])[0]
    row = SearchEmbedding(
        doc_id=doc.id, index="models", model=model.name, dim=model.dim, vector=encode_vector(vector), text_hash=""
    )
    if stamped is not None:
        row.updated_at = stamped
    session.add(row)
    return doc.id


def test_an_embedding_written_by_another_process_is_found_after_the_refresh_interval(
    runtime: Runtime, corpus: dict
) -> None:
    """Another web process (or worker) wrote the row: no commit hook here, the periodic look finds it."""
    nearest_names(runtime, corpus, "folded paper cranes")
    with runtime.db.transaction() as session:
        corpus["Origami Paper"] = write_origami(session, 200)
    time.sleep(runtime.settings.search_vector_refresh_ms / 1000 + 0.05)

    assert nearest_names(runtime, corpus, "folded paper cranes", k=1) == ["Origami Paper"]


def test_a_late_commit_stamped_before_the_last_look_is_still_found(runtime: Runtime, corpus: dict) -> None:
    """A transaction may stamp its rows, then commit after a later one was read: the refresh re-reads an overlap."""
    nearest_names(runtime, corpus, "folded paper cranes")  # loaded: the newest stamp seen is the corpus's
    with runtime.db.transaction() as session:
        newest_seen = session.scalar(select(func.max(SearchEmbedding.updated_at)))
        assert newest_seen is not None
        doc_id = write_origami(session, 300, stamped=newest_seen - timedelta(seconds=1))
    semantic.vector_index().changed("models")

    assert nearest_names(runtime, corpus | {"Origami Paper": doc_id}, "folded paper cranes", k=1) == ["Origami Paper"]


def reconciling_index(runtime: Runtime) -> MemoryVectorIndex:
    """A vector index of its own that compares its rows with the table's every second."""
    settings = runtime.settings.model_copy(update={"search_vector_reconcile_seconds": 1})
    return MemoryVectorIndex(dataclasses.replace(runtime, settings=settings))


def test_vectors_of_deleted_documents_are_dropped_by_the_reconcile(runtime: Runtime, corpus: dict) -> None:
    index = reconciling_index(runtime)
    query = semantic.embedder().query("automobile")
    with runtime.db.session() as session:
        assert index.nearest(session, "models", query, 1)[0][0] == corpus["Supercar Garage"]
    with runtime.db.transaction() as session:
        session.execute(delete(SearchDocument).where(SearchDocument.id == corpus["Supercar Garage"]))
    time.sleep(1.05)

    with runtime.db.session() as session:
        found = index.nearest(session, "models", query, len(CORPUS))

    assert corpus["Supercar Garage"] not in dict(found)
    assert len(found) == len(CORPUS) - 1


def test_a_change_stamped_long_before_its_commit_is_read_by_the_reconcile(runtime: Runtime, corpus: dict) -> None:
    """A writer whose clock lags, or whose transaction outlasted the refresh overlap."""
    index = reconciling_index(runtime)
    query = semantic.embedder().query("automobile")
    with runtime.db.session() as session:
        index.nearest(session, "models", query, 1)
    with runtime.db.transaction() as session:
        car = session.get(SearchEmbedding, corpus["Supercar Garage"])
        assert car is not None
        session.execute(
            update(SearchEmbedding)
            .where(SearchEmbedding.doc_id == corpus["Pixel Hero"])
            .values(vector=car.vector, updated_at=utcnow() - timedelta(minutes=10))
        )
    index.changed("models")
    with runtime.db.session() as session:
        assert len(index.nearest(session, "models", query, 2, among={corpus["Pixel Hero"]})) == 1
        before = index.nearest(session, "models", query, 2)
    time.sleep(1.05)

    with runtime.db.session() as session:
        found = index.nearest(session, "models", query, 2)

    assert before[1][1] < before[0][1]  # the refresh did not see the change
    assert {doc_id for doc_id, _score in found} == {corpus["Supercar Garage"], corpus["Pixel Hero"]}
    assert found[1][1] == pytest.approx(found[0][1], abs=1e-6)  # the same vector now


def test_another_embedders_vectors_are_not_compared(runtime: Runtime, corpus: dict) -> None:
    with runtime.db.transaction() as session:
        session.execute(
            update(SearchEmbedding).where(SearchEmbedding.doc_id == corpus["Flat Toon"]).values(model="other-model")
        )
    semantic.drop_process_caches()

    with runtime.db.session() as session:
        assert semantic.vector_of(session, corpus["Flat Toon"]) is None
    assert "Flat Toon" not in nearest_names(runtime, corpus, "anime style portrait", k=len(CORPUS))


def test_queries_racing_refreshes_answer_whole_results(runtime: Runtime, corpus: dict) -> None:
    query = semantic.embedder().query("automobile")
    failures: list[BaseException] = []
    answers: list[list[tuple[int, float]]] = []

    def search() -> None:
        try:
            for _ in range(30):
                with runtime.db.session() as session:
                    answers.append(semantic.nearest(session, "models", query, 3))
                semantic.vector_index().changed("models")
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=search) for _ in range(4)]
    for thread in threads:
        thread.start()
    add_documents(runtime, {f"Filler {n}": f"Filler text number {n}." for n in range(20)}, first_entity=500)
    for thread in threads:
        thread.join()

    assert failures == []
    assert all(answer[0][0] == corpus["Supercar Garage"] and len(answer) == 3 for answer in answers)


# --- stored embeddings ----------------------------------------------------------------------------------------


def stored_row(runtime: Runtime, doc_id: int) -> SearchEmbedding | None:
    with runtime.db.session() as session:
        return session.get(SearchEmbedding, doc_id)


def test_only_changed_texts_are_embedded_again(runtime: Runtime, corpus: dict) -> None:
    doc_id = corpus["Pixel Hero"]
    before = stored_row(runtime, doc_id)
    assert before is not None
    same_text = f"Pixel Hero. {CORPUS['Pixel Hero']}"
    new_text = "Pixel Hero. Isometric voxel scenes for strategy games."

    with runtime.db.transaction() as session:
        unchanged = semantic.embed_stored(
            session, [Written(doc_id, "models", 8, same_text, text_hash(same_text), False)]
        )
    with runtime.db.transaction() as session:
        changed = semantic.embed_stored(session, [Written(doc_id, "models", 8, new_text, text_hash(new_text), True)])

    after = stored_row(runtime, doc_id)
    assert (unchanged, changed) == (0, 1)
    assert after is not None and after.text_hash == text_hash(new_text) and after.vector != before.vector
    assert after.updated_at > before.updated_at


def test_a_missing_or_foreign_vector_is_embedded_even_if_the_text_did_not_change(
    runtime: Runtime, corpus: dict
) -> None:
    text = f"Logo Maker. {CORPUS['Logo Maker']}"
    with runtime.db.transaction() as session:
        session.execute(
            update(SearchEmbedding).where(SearchEmbedding.doc_id == corpus["Logo Maker"]).values(model="other-model")
        )
        session.execute(delete(SearchEmbedding).where(SearchEmbedding.doc_id == corpus["Tattoo Flash"]))
    tattoo = f"Tattoo Flash. {CORPUS['Tattoo Flash']}"

    with runtime.db.transaction() as session:
        count = semantic.embed_stored(
            session,
            [
                Written(corpus["Logo Maker"], "models", 18, text, text_hash(text), False),
                Written(corpus["Tattoo Flash"], "models", 16, tattoo, text_hash(tattoo), False),
            ],
        )

    assert count == 2
    logo = stored_row(runtime, corpus["Logo Maker"])
    assert logo is not None and logo.model == semantic.embedder().name
    assert stored_row(runtime, corpus["Tattoo Flash"]) is not None


def test_a_document_whose_text_became_empty_loses_its_vector(runtime: Runtime, corpus: dict) -> None:
    with runtime.db.transaction() as session:
        count = semantic.embed_stored(session, [Written(corpus["Logo Maker"], "models", 18, " \x00 ", "", True)])

    assert count == 0
    assert stored_row(runtime, corpus["Logo Maker"]) is None
    assert "Logo Maker" not in nearest_names(runtime, corpus, "company emblem", k=len(CORPUS))


def test_a_rolled_back_embedding_is_not_searchable(runtime: Runtime, corpus: dict) -> None:
    nearest_names(runtime, corpus, "folded paper cranes")
    with pytest.raises(RuntimeError), runtime.db.transaction() as session:
        doc = SearchDocument(index="models", entity_id=900, name="Origami Paper", created_at=utcnow())
        session.add(doc)
        session.flush()
        text = "Origami Paper. Folded paper cranes and origami art."
        semantic.embed_stored(session, [Written(doc.id, "models", 900, text, text_hash(text), True)])
        raise RuntimeError("the request failed")

    with runtime.db.session() as session:
        found = semantic.nearest(session, "models", semantic.embedder().query("folded paper cranes"), 30)
    assert set(dict(found)) <= set(corpus.values())


# --- fusion -----------------------------------------------------------------------------------------------------


def test_rrf_puts_a_document_ranked_well_by_both_first() -> None:
    keyword = [1, 2, 3, 4]
    semantic_ranking = [5, 3, 6, 1]

    fused = semantic.rrf([keyword, semantic_ranking])

    assert [doc_id for doc_id, _score in fused][:2] == [1, 3]
    assert dict(fused)[1] == pytest.approx(1 / 61 + 1 / 64)
    assert {doc_id for doc_id, _score in fused} == {1, 2, 3, 4, 5, 6}


def test_rrf_breaks_ties_by_first_appearance_and_counts_a_repeat_once() -> None:
    fused = semantic.rrf([[7, 8], [8, 7], [9, 9]], k=10)

    assert fused[0][1] == pytest.approx(fused[1][1])  # 7 and 8 tie
    assert [doc_id for doc_id, _score in fused] == [7, 8, 9]
    assert dict(fused)[9] == pytest.approx(1 / 11)
    assert semantic.rrf([]) == [] and semantic.rrf([[], []]) == []


# --- similar documents ------------------------------------------------------------------------------------------


def entity_of(runtime: Runtime, doc_id: int) -> int:
    with runtime.db.session() as session:
        document = session.get(SearchDocument, doc_id)
        assert document is not None
        return document.entity_id


def test_similar_documents_exclude_the_document_itself(runtime: Runtime, corpus: dict) -> None:
    car = entity_of(runtime, corpus["Supercar Garage"])
    with runtime.db.session() as session:
        hits = semantic.similar(session, None, "models", car, limit=3)

    assert len(hits) == 3
    assert corpus["Supercar Garage"] not in [hit.doc_id for hit in hits]
    assert all(entity_of(runtime, hit.doc_id) == hit.entity_id for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_similar_documents_are_only_those_the_viewer_may_find(runtime: Runtime, corpus: dict) -> None:
    flat = entity_of(runtime, corpus["Flat Toon"])
    with runtime.db.session() as session:
        before = semantic.similar(session, None, "models", flat, limit=len(CORPUS))
    hidden = before[0].doc_id
    with runtime.db.transaction() as session:
        session.execute(update(SearchDocument).where(SearchDocument.id == hidden).values(public=False))

    with runtime.db.session() as session:
        after = semantic.similar(session, None, "models", flat, limit=len(CORPUS))

    assert len(before) == len(CORPUS) - 1
    assert [hit.doc_id for hit in after] == [hit.doc_id for hit in before[1:]]


def test_similar_to_an_unknown_or_unembedded_entity_is_empty(runtime: Runtime, corpus: dict) -> None:
    with runtime.db.transaction() as session:
        session.execute(delete(SearchEmbedding).where(SearchEmbedding.doc_id == corpus["Flat Toon"]))
    with runtime.db.session() as session:
        assert semantic.similar(session, None, "models", 2**40) == []
        assert semantic.vector_of(session, 2**40) is None
        assert semantic.similar(session, None, "models", entity_of(runtime, corpus["Flat Toon"])) == []
