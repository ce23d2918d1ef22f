"""Listings with a text query go through the search (`search.listing`, the catalog's `TextSearch`): what the
search finds, the listing loads with its own SQL, so its filters and visibility rule have the last word even
while the index lags; pages follow the search's cursors; `cards_for` and `feed.items_for` load ids found
elsewhere in their order."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from modelyard.accounts.models import Role, User
from modelyard.catalog import browsing
from modelyard.catalog.browsing import ModelFilters, ModelSort
from modelyard.catalog.enums import Availability, ModelType
from modelyard.catalog.models import Model
from modelyard.core.errors import BadRequest
from modelyard.core.paging import PageRequest
from modelyard.core.runtime import Runtime
from modelyard.images import feed
from modelyard.images.feed import FeedQuery
from modelyard.search import listing, service, sources
from modelyard.search.rebuild import rebuild
from modelyard.search.types import SearchQuery
from tests.images.test_feed import add_image
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user


def index_all(runtime: Runtime) -> None:
    """Every index rebuilt from the database as it is now (tests also change rows directly, which queues
    nothing for the index)."""
    for name in sources.indexes():
        rebuild(runtime, name)


@pytest.fixture
def owner(runtime: Runtime) -> UserFixture:
    return create_user(runtime, username="quill")


def browse(runtime: Runtime, viewer_id: int | None = None, **options: Any) -> Any:
    filters = options.pop("filters", ModelFilters())
    with runtime.db.session() as session:
        viewer = session.get(User, viewer_id) if viewer_id is not None else None
        return browsing.browse(
            session, viewer, filters, request=options.pop("request", PageRequest(limit=24)), **options
        )


def names(page: Any) -> list[str]:
    return [card.model.name for card in page.items]


def change(runtime: Runtime, model_id: int, **values: Any) -> None:
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == model_id).values(**values))


def test_the_search_domain_answers_the_catalogs_text_queries(runtime: Runtime) -> None:
    assert isinstance(browsing._text_search, listing.ModelSearch)


def test_a_text_query_finds_models_by_tags_trigger_words_description_and_creator(
    runtime: Runtime, owner: UserFixture
) -> None:
    create_model(runtime, owner, name="Alpha", published=True, with_post=False, tags=["sumie"])
    described = create_model(runtime, owner, name="Beta", published=True, with_post=False)
    change(runtime, described.id, description_html="<p>Loose <b>gouache</b> strokes</p>")
    create_model(runtime, create_user(runtime, username="painter"), name="Gamma", published=True, with_post=False)
    index_all(runtime)

    def found(text: str) -> list[str]:  # ordered by date, a search is a filter: keyword matches only
        return names(browse(runtime, filters=ModelFilters(text=text), sort=ModelSort.Newest))

    assert found("sumie") == ["Alpha"]
    assert found("gouache") == ["Beta"]
    assert found("painter") == ["Gamma"]
    assert found("tok") == ["Gamma", "Beta", "Alpha"]  # trigger words


def test_every_listing_filter_still_applies_to_what_the_search_finds(runtime: Runtime, owner: UserFixture) -> None:
    other = create_user(runtime, username="painter")
    lora = create_model(runtime, owner, name="Ink LoRA", published=True, with_post=False, tags=["wash"])
    create_model(runtime, owner, name="Ink photo", type=ModelType.Checkpoint, published=True, with_post=False)
    theirs = create_model(runtime, other, name="Ink VAE", type=ModelType.VAE, published=True, with_post=False)
    change(runtime, theirs.id, allow_no_credit=False)
    index_all(runtime)

    def found(**filters: Any) -> list[str]:
        return sorted(names(browse(runtime, filters=ModelFilters(text="ink", **filters), sort=ModelSort.Newest)))

    assert found() == ["Ink LoRA", "Ink VAE", "Ink photo"]
    assert found(types=("LORA", "VAE")) == ["Ink LoRA", "Ink VAE"]
    assert found(tag=" WASH ") == ["Ink LoRA"]
    assert found(username="PAINTER") == found(user_id=other.id) == ["Ink VAE"]
    assert found(username="nobody") == [] and found(username="painter", user_id=owner.id) == []
    assert found(ids=(lora.id, theirs.id)) == ["Ink LoRA", "Ink VAE"]
    assert found(version_ids=(lora.version_ids[0],)) == ["Ink LoRA"]
    assert found(ids=(theirs.id,), version_ids=(lora.version_ids[0],)) == []
    assert found(allow_no_credit=False) == ["Ink VAE"]  # the search cannot say "not": SQL does
    assert found(allow_no_credit=True) == ["Ink LoRA", "Ink photo"]
    assert found(base_models=("SDXL 1.0",)) == []
    assert found(none=True) == []


def test_the_database_has_the_last_word_while_the_index_lags(runtime: Runtime, owner: UserFixture) -> None:
    made = [create_model(runtime, owner, name=f"Ink {n}", published=True, with_post=False).id for n in range(5)]
    index_all(runtime)
    # Hidden behind the index's back: the index still says the two newest are public.
    for model_id in made[3:]:
        change(runtime, model_id, availability=Availability.Private)
    seen: list[int] = []
    cursor = None
    first = True
    while True:
        page = browse(
            runtime, filters=ModelFilters(text="ink"), sort=ModelSort.Newest, request=PageRequest(2, cursor=cursor)
        )
        seen.extend(card.model.id for card in page.items)
        if first:  # the two dropped hits were made up from further on: the page is full
            assert len(page.items) == 2
            first = False
        if not page.has_next:
            break
        cursor = page.next_cursor
    assert seen == made[2::-1]
    assert names(browse(runtime, owner.id, filters=ModelFilters(text="ink"), sort=ModelSort.Newest))[:2] == [
        "Ink 4",
        "Ink 3",
    ]  # their owner still lists them


def test_pages_follow_the_searchs_cursor_and_page_numbers(runtime: Runtime, owner: UserFixture) -> None:
    made = [create_model(runtime, owner, name=f"Ink {n}", published=True, with_post=False).id for n in range(5)]
    create_model(runtime, owner, name="Watercolor", published=True, with_post=False)
    index_all(runtime)
    ink = ModelFilters(text="ink")
    first = browse(runtime, filters=ink, sort=ModelSort.Newest, request=PageRequest(limit=2))
    assert [card.model.id for card in first.items] == made[:2:-1] and first.has_next
    assert first.next_cursor
    second = browse(runtime, filters=ink, sort=ModelSort.Newest, request=PageRequest(2, cursor=first.next_cursor))
    assert [card.model.id for card in second.items] == made[2:0:-1]
    numbered = browse(runtime, filters=ink, sort=ModelSort.Newest, request=PageRequest(limit=2, page=3))
    assert [card.model.id for card in numbered.items] == [made[0]] and not numbered.has_next
    assert numbered.number == 3 and numbered.next_cursor is None
    past = browse(runtime, filters=ink, sort=ModelSort.Newest, request=PageRequest(limit=2, page=9))
    assert past.items == [] and past.past_the_end
    # A cursor belongs to its question: another text, or another sort, is refused.
    for other, sort in ((ModelFilters(text="watercolor"), ModelSort.Newest), (ink, ModelSort.MostDownloaded)):
        with pytest.raises(BadRequest):
            browse(runtime, filters=other, sort=sort, request=PageRequest(2, cursor=first.next_cursor))
    with pytest.raises(BadRequest):
        browse(runtime, filters=ink, sort=ModelSort.Newest, request=PageRequest(2, cursor="5|1"))


def test_sorts_read_as_the_searchs(runtime: Runtime, owner: UserFixture) -> None:
    named = create_model(runtime, owner, name="Heron", published=True, with_post=False)
    described = create_model(runtime, owner, name="Bird", published=True, with_post=False)
    dusk = create_model(runtime, owner, name="Heron at dusk", published=True, with_post=False)
    change(runtime, described.id, description_html="<p>A heron by the river</p>", download_count=90)
    change(runtime, dusk.id, download_count=100)
    change(runtime, named.id, download_count=50)
    index_all(runtime)
    heron = ModelFilters(text="heron")
    assert names(browse(runtime, filters=heron, sort=ModelSort.Newest)) == ["Heron at dusk", "Bird", "Heron"]
    by_downloads = ["Heron at dusk", "Bird", "Heron"]
    assert names(browse(runtime, filters=heron, sort=ModelSort.MostDownloaded)) == by_downloads
    assert names(browse(runtime, filters=heron, sort=ModelSort.MostLiked)) == by_downloads  # no likes yet
    # Civitai's default sort reads as the search's relevance, words and meaning fused.
    with runtime.db.session() as session:
        relevance = service.search(session, None, SearchQuery(index="models", text="heron", mode="hybrid"))
        by_relevance = [session.get(Model, hit.entity_id).name for hit in relevance.hits]  # type: ignore[union-attr]
    assert names(browse(runtime, filters=heron, sort=ModelSort.HighestRated)) == by_relevance
    assert by_relevance != by_downloads


def test_levels_apply_to_a_search_as_to_the_listing(runtime: Runtime, owner: UserFixture) -> None:
    create_model(runtime, owner, name="Ink safe", published=True, with_post=False)
    adult = create_model(runtime, owner, name="Ink adult", published=True, with_post=False)
    change(runtime, adult.id, nsfw=True, nsfw_level=4)
    index_all(runtime)
    ink = ModelFilters(text="ink")
    assert names(browse(runtime, filters=ink, sort=ModelSort.Newest)) == ["Ink safe"]  # anonymous: PG
    wider = ModelFilters(text="ink", browsing_level=1 | 4)
    assert names(browse(runtime, filters=wider, sort=ModelSort.Newest)) == ["Ink adult", "Ink safe"]


# --- ids found elsewhere ----------------------------------------------------------------------------------------


def test_cards_for_keep_the_order_given_and_leave_out_what_the_viewer_may_not_list(
    runtime: Runtime, owner: UserFixture
) -> None:
    first, second, hidden, draft, adult = (
        create_model(runtime, owner, name=name, published=name != "Draft", with_post=False).id
        for name in ("First", "Second", "Hidden", "Draft", "Adult")
    )
    change(runtime, hidden, availability=Availability.Private)
    change(runtime, adult, nsfw=True, nsfw_level=4)
    moderator = create_user(runtime, role=Role.moderator)
    wanted = [second, hidden, draft, adult, first]
    with runtime.db.session() as session:
        anyone = [card.model.name for card in browsing.cards_for(session, None, wanted)]
        wide = browsing.cards_for(session, None, wanted, browsing_level=1 | 4)
        as_owner = browsing.cards_for(session, session.get(User, owner.id), wanted)
        as_moderator = browsing.cards_for(session, session.get(User, moderator.id), wanted)
        assert browsing.cards_for(session, None, []) == []
    assert anyone == ["Second", "First"]
    assert [card.model.name for card in wide] == ["Second", "Adult", "First"]
    assert [card.model.name for card in as_owner] == ["Second", "Hidden", "First"]
    assert [card.model.name for card in as_moderator] == ["Second", "Hidden", "First"]
    assert all(card.creator == "quill" and card.base_model == "SD 1.5" for card in as_owner)


def test_feed_items_for_keep_the_order_given_and_apply_the_feeds_rule(runtime: Runtime, owner: UserFixture) -> None:
    shown = add_image(runtime, owner, meta={"prompt": "a heron"})
    draft = add_image(runtime, owner, published=False)
    adult = add_image(runtime, owner, level=4)
    later = add_image(runtime, owner)
    with runtime.db.session() as session:
        viewer = session.get(User, owner.id)
        assert [item.image.id for item in feed.items_for(session, None, [later, draft, adult, shown])] == [later, shown]
        wide = feed.items_for(session, None, [adult, shown], FeedQuery(levels=1 | 4))
        assert [item.image.id for item in wide] == [adult, shown]
        assert [item.image.id for item in feed.items_for(session, None, [later, shown], FeedQuery(image_id=shown))] == [
            shown
        ]
        (item,) = feed.items_for(session, viewer, [shown])
        assert item.username == "quill" and item.public and item.meta_for(viewer) == {"prompt": "a heron"}
        assert feed.items_for(session, None, []) == []
