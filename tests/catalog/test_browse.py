"""The one listing of models (`catalog.browsing`) and the site's JSON list over it (`GET /api/models`): filters,
sorts, keyset and numbered paging, the text seam, totals, and the filters it offers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog import browsing, facets
from modelyard.catalog.browsing import ModelFilters, ModelSort
from modelyard.catalog.enums import Availability, ModelType
from modelyard.catalog.models import Model
from modelyard.core.errors import BadRequest
from modelyard.core.paging import Page, PageRequest
from modelyard.core.runtime import Runtime
from tests.search.test_listing_search import index_all
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_api_key, create_user


@pytest.fixture
def owner(runtime: Runtime) -> UserFixture:
    return create_user(runtime, username="inkmaker")


def browse(runtime: Runtime, viewer_id: int | None = None, **options: Any) -> Any:
    """A page of cards, as `viewer_id` sees it (anonymous when None)."""
    filters = options.pop("filters", ModelFilters())
    with runtime.db.session() as session:
        viewer = session.get(User, viewer_id) if viewer_id is not None else None
        request = options.pop("request", PageRequest(limit=24))
        return browsing.browse(session, viewer, filters, request=request, **options)


def names(page: Any) -> list[str]:
    return [card.model.name for card in page.items]


def set_downloads(runtime: Runtime, model_id: int, count: int) -> None:
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == model_id).values(download_count=count))


# --- the service ------------------------------------------------------------------------------------------------


def test_a_card_holds_the_creator_and_the_newest_visible_version(runtime: Runtime, owner: UserFixture) -> None:
    made = create_model(runtime, owner, name="Ink", versions=2, published=True, with_post=False)
    create_model(runtime, owner, name="Draft", with_post=False)
    (card,) = browse(runtime).items
    assert card.model.id == made.id and card.creator == "inkmaker" and card.base_model == "SD 1.5"
    assert card.cover is None, "no picture provider is registered by the catalog itself"


def test_unsearchable_models_are_listed_to_their_owner_only(runtime: Runtime, owner: UserFixture) -> None:
    made = create_model(runtime, owner, name="Quiet", published=True, with_post=False)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == made.id).values(availability=Availability.Unsearchable))
    assert names(browse(runtime)) == []
    assert names(browse(runtime, owner.id)) == ["Quiet"]


def test_filters_narrow_the_listing(runtime: Runtime, owner: UserFixture) -> None:
    other = create_user(runtime, username="Painter")
    lora = create_model(runtime, owner, name="Ink LoRA", published=True, with_post=False, tags=["Ink  Wash"])
    create_model(runtime, owner, name="Photo", type=ModelType.Checkpoint, published=True, with_post=False)
    create_model(runtime, other, name="Their VAE", type=ModelType.VAE, published=True, with_post=False)
    index_all(runtime)  # text goes through the search

    def found(**filters: Any) -> list[str]:
        return sorted(names(browse(runtime, filters=ModelFilters(**filters))))

    assert found(types=("LORA", "VAE")) == ["Ink LoRA", "Their VAE"]
    assert found(tag="ink wash") == found(tag=" INK   WASH ") == ["Ink LoRA"]  # as tags are stored
    assert found(username="painter") == ["Their VAE"]
    assert found(user_id=other.id) == ["Their VAE"]
    assert found(text="lora") == ["Ink LoRA"]
    assert found(text="%") == found(text="_") == found()  # no words in it: no wildcards either
    assert found(base_models=("SD 1.5",)) == ["Ink LoRA", "Photo", "Their VAE"]
    assert found(base_models=("SDXL 1.0",)) == []
    assert found(ids=(lora.id,)) == ["Ink LoRA"]


def walk(runtime: Runtime, sort: ModelSort, *, during: Any = None) -> list[int]:
    """Every model id, page after page of two, following the cursors; `during` runs after the first page."""
    seen: list[int] = []
    cursor: str | None = None
    while True:
        page = browse(runtime, sort=sort, request=PageRequest(limit=2, cursor=cursor))
        seen.extend(card.model.id for card in page.items)
        if during is not None and len(seen) == 2:
            during()
        if not page.has_next:
            assert page.next_cursor is None
            return seen
        cursor = page.next_cursor


def test_keyset_pages_never_skip_or_repeat_while_models_arrive(runtime: Runtime, owner: UserFixture) -> None:
    made = [create_model(runtime, owner, name=f"M{n}", published=True, with_post=False).id for n in range(5)]

    def publish_another() -> None:  # newer than the cursor: before it, so neither repeated nor skipping anything
        create_model(runtime, owner, name="Late", published=True, with_post=False)

    assert walk(runtime, ModelSort.Newest, during=publish_another) == made[::-1]
    for position, model_id in enumerate(made):
        set_downloads(runtime, model_id, position % 2)  # ties, broken by id
    by_downloads = walk(runtime, ModelSort.MostDownloaded)
    assert [m for m in by_downloads if m in made] == [made[3], made[1], made[4], made[2], made[0]]
    assert len(by_downloads) == len(set(by_downloads)) == 6


@pytest.mark.parametrize(
    ("sort", "cursor"), [(ModelSort.Newest, "5|1"), (ModelSort.MostDownloaded, "2026-01-01T00:00:00|1")]
)
def test_a_cursor_of_another_sort_is_a_400(runtime: Runtime, sort: ModelSort, cursor: str) -> None:
    with pytest.raises(BadRequest, match="cursor"):
        browse(runtime, sort=sort, request=PageRequest(limit=2, cursor=cursor))


class NamesInReverse:
    """A stand-in for the search domain's text search: every model whose name holds the text, last made first,
    whatever the listing's filters; no cursors."""

    def find(
        self,
        session: Session,
        viewer: User | None,
        filters: ModelFilters,
        sort: ModelSort,
        request: PageRequest,
        load: Callable[[Sequence[int]], Mapping[int, Any]],
    ) -> Page[Any]:
        assert filters.text is not None
        query = select(Model.id).where(Model.name.contains(filters.text)).order_by(Model.id.desc())
        ids = list(session.scalars(query.limit(request.limit)))
        rows = load(ids)
        return Page(items=[rows[model_id] for model_id in ids if model_id in rows], has_next=False)


@pytest.fixture
def reverse_search() -> Iterator[None]:
    registered = browsing._text_search
    browsing.use_text_search(NamesInReverse())
    try:
        yield
    finally:
        browsing._text_search = registered


@pytest.mark.usefixtures("reverse_search")
def test_text_search_is_one_seam_another_search_plugs_into(runtime: Runtime, owner: UserFixture) -> None:
    water, _, hidden, _ = (
        create_model(runtime, owner, name=name, published=True, with_post=False, type=kind).id
        for name, kind in (
            ("Water", ModelType.LORA),
            ("Watercolor wash", ModelType.LORA),
            ("Water hidden", ModelType.LORA),
            ("Water VAE", ModelType.VAE),
        )
    )
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == hidden).values(availability=Availability.Private))
    # The search's order; the listing's SQL keeps its filters and its visibility rule.
    water_loras = ModelFilters(text="Water", types=("LORA",))
    assert names(browse(runtime, filters=water_loras)) == ["Watercolor wash", "Water"]
    assert names(browse(runtime, owner.id, filters=water_loras)) == ["Water hidden", "Watercolor wash", "Water"]
    assert names(browse(runtime, filters=ModelFilters(text="Water", ids=(water,)))) == ["Water"]


def test_totals_count_what_the_viewer_may_see(runtime: Runtime, owner: UserFixture) -> None:
    shown = create_model(runtime, owner, name="Shown", published=True, with_post=False)
    hidden = create_model(runtime, owner, name="Hidden", published=True, with_post=False)
    create_model(runtime, owner, name="Draft", with_post=False)
    set_downloads(runtime, shown.id, 5)
    set_downloads(runtime, hidden.id, 7)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == hidden.id).values(availability=Availability.Private))
    with runtime.db.session() as session:
        anyone = browsing.totals(session, None, ModelFilters(user_id=owner.id))
        themselves = browsing.totals(session, session.get(User, owner.id), ModelFilters(user_id=owner.id))
    assert (anyone.models, anyone.downloads) == (1, 5)
    assert (themselves.models, themselves.downloads) == (2, 12)


def test_only_types_and_base_models_with_listed_models_are_offered(runtime: Runtime, owner: UserFixture) -> None:
    create_model(runtime, owner, name="Draft VAE", type=ModelType.VAE, with_post=False)
    with runtime.db.session() as session:
        assert facets.offered_types(session) == [] and facets.offered_base_models(session) == []
    create_model(runtime, owner, name="Poses", type=ModelType.Poses, published=True, with_post=False)
    create_model(runtime, owner, name="A LoRA", type=ModelType.LORA, published=True, with_post=False)
    with runtime.db.session() as session:  # publishing cleared what was cached
        assert facets.offered_types(session) == [ModelType.LORA, ModelType.Poses]
        assert facets.offered_base_models(session) == [("Stable Diffusion 1", ["SD 1.5"])]


# --- the site's JSON list ---------------------------------------------------------------------------------------


def test_the_site_list_pages_by_cursor_and_by_number(client: TestClient, runtime: Runtime, owner: UserFixture) -> None:
    ids = [create_model(runtime, owner, name=f"List {n}", published=True, with_post=False).id for n in range(3)]
    first = client.get("/api/models", params={"limit": 2})
    assert first.status_code == 200, first.text
    body = first.json()
    assert [item["id"] for item in body["items"]] == ids[:0:-1] and body["has_next"]
    assert body["items"][0] | {"published_at": None} == {
        "id": ids[2], "name": "List 2", "type": "LORA", "creator": "inkmaker", "base_model": "SD 1.5",
        "published_at": None, "download_count": 0, "cover": None,
    }  # fmt: skip
    rest = client.get("/api/models", params={"limit": 2, "cursor": body["next_cursor"]}).json()
    assert [item["id"] for item in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    numbered = client.get("/api/models", params={"limit": 2, "page": 2}).json()
    assert [item["id"] for item in numbered["items"]] == [ids[0]] and numbered["page"] == 2


def test_the_site_list_filters_and_shows_owners_their_unlisted_models(
    client: TestClient, runtime: Runtime, owner: UserFixture
) -> None:
    create_model(runtime, owner, name="Ink LoRA", published=True, with_post=False, tags=["ink"])
    quiet = create_model(runtime, owner, name="Quiet", type=ModelType.VAE, published=True, with_post=False)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == quiet.id).values(availability=Availability.Unsearchable))
    index_all(runtime)

    def listed(headers: dict[str, str] | None = None, **params: Any) -> list[str]:
        response = client.get("/api/models", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert listed(tag="ink") == listed(query="lora") == listed(types=["LORA"]) == ["Ink LoRA"]
    assert listed(username="INKMAKER") == ["Ink LoRA"] and listed(types=["VAE"]) == []
    assert listed({"Authorization": f"Bearer {create_api_key(runtime, owner)}"}, types=["VAE"]) == ["Quiet"]


@pytest.mark.parametrize(
    ("params", "status"),
    [({"cursor": "nonsense"}, 400), ({"cursor": "5|99999999999"}, 400), ({"sort": "Highest Rated"}, 422),
     ({"query": "a\x00b"}, 400), ({"tag": "\x00"}, 400), ({"limit": 0}, 422), ({"page": 401}, 422),
     ({"types": "Banana"}, 422)],
)  # fmt: skip
def test_the_site_list_refuses_bad_input_plainly(client: TestClient, params: dict[str, Any], status: int) -> None:
    response = client.get("/api/models", params=params)
    assert response.status_code == status, response.text
