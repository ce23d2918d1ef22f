"""The listing pages over HTTP: the models page's search, sorts and filters kept in the URL, the types it offers
(with their display names), a page past the end, the home page's search, the grouped base-model picker, tag
pages and creator profiles."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from modelyard.accounts.models import User
from modelyard.catalog.enums import ModelType
from modelyard.catalog.models import Model
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from tests.catalog.test_pages import log_in_page, view
from tests.search.test_listing_search import index_all
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user


@pytest.fixture
def owner(runtime: Runtime) -> UserFixture:
    return create_user(runtime, username="inkmaker")


def card_names(text: str) -> list[str]:
    return [html.unescape(name) for name in re.findall(r'<p class="model-card__name">([^<]*)</p>', text)]


def chips(text: str) -> list[str]:
    """The model types offered."""
    return re.findall(r'<a class="chip" href="[^"]*"(?: aria-current="page")?>([^<]*)</a>', text)


def hrefs(text: str) -> list[str]:
    return [html.unescape(link) for link in re.findall(r'href="([^"]*)"', text)]


# --- the models page ----------------------------------------------------------------------------------------------


def test_search_sort_and_filters_are_kept_in_the_url(client: TestClient, runtime: Runtime) -> None:
    maker = create_user(runtime, username="quill")  # a name no search word below starts
    ink = create_model(runtime, maker, name="Ink LoRA", published=True, with_post=False, tags=["ink"])
    ckpt = create_model(
        runtime, maker, name="Ink checkpoint", type=ModelType.Checkpoint, published=True, with_post=False
    )
    create_model(runtime, maker, name="Watercolor", published=True, with_post=False, tags=["ink"])
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == ink.id).values(download_count=9))
        session.execute(update(Model).where(Model.id == ckpt.id).values(download_count=5))
    index_all(runtime)  # a search goes through the search indexes
    page = view(client, "/models?q=ink&sort=most-downloaded&tag=ink")
    assert page.status_code == 200
    assert card_names(page.text) == ["Ink LoRA", "Watercolor"]  # its tags are searched too
    assert 'value="ink"' in page.text and '<option value="most-downloaded" selected>' in page.text
    # The type chips keep the search, sort and tag, and start again at page 1.
    assert "/models?q=ink&type=Checkpoint&tag=ink&sort=most-downloaded" in hrefs(page.text)
    both = view(client, "/models?q=ink&sort=most-downloaded")
    assert card_names(both.text) == ["Ink LoRA", "Ink checkpoint", "Watercolor"]
    newest = view(client, "/models?q=ink&sort=newest")
    assert card_names(newest.text) == ["Watercolor", "Ink checkpoint", "Ink LoRA"]
    best = view(client, "/models?q=ink").text  # a search without a sort: best match first
    assert '<option value="" selected>Best match</option>' in best and len(card_names(best)) == 3
    assert '<option value="" selected>Newest</option>' in view(client, "/models").text
    assert card_names(view(client, "/models?type=Checkpoint&q=ink").text) == ["Ink checkpoint"]
    assert card_names(view(client, "/models?base=SDXL+1.0").text) == []


def test_only_types_with_models_are_offered_by_their_display_names(
    client: TestClient, runtime: Runtime, owner: UserFixture
) -> None:
    create_model(runtime, owner, name="A LoRA", published=True, with_post=False)
    create_model(runtime, owner, name="An embedding", type=ModelType.TextualInversion, published=True, with_post=False)
    create_model(runtime, owner, name="A draft VAE", type=ModelType.VAE, with_post=False)
    assert chips(view(client, "/models").text) == ["All types", "Textual Inversion", "LoRA"]  # the enum's order
    # A type asked for by URL is shown (and clearable) even without models; the page then says nothing matches.
    vae = view(client, "/models?type=VAE")
    assert 'aria-current="page">VAE</a>' in vae.text and "No models match" in vae.text
    assert "Clear filters" in vae.text
    assert view(client, "/models?type=Banana&sort=worst").status_code == 200  # unknown values are ignored


def test_a_page_past_the_end_says_so(
    client: TestClient, runtime: Runtime, owner: UserFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.catalog.pages import browse

    monkeypatch.setattr(browse, "MODELS_PER_PAGE", 2)
    for n in range(3):
        create_model(runtime, owner, name=f"Model {n}", published=True, with_post=False)
    second = view(client, "/models?page=2&sort=newest")
    assert card_names(second.text) == ["Model 0"] and 'rel="prev"' in second.text and 'rel="next"' not in second.text
    past = view(client, "/models?page=7")
    assert past.status_code == 200
    assert "Page 7 is past the end of this list" in past.text and card_names(past.text) == []
    assert 'href="/models">Back to the first page' in past.text
    assert view(client, "/models?page=0").status_code == 422


def test_the_base_model_filter_is_grouped_by_family(client: TestClient, runtime: Runtime, owner: UserFixture) -> None:
    create_model(runtime, owner, name="A LoRA", published=True, with_post=False)
    page = view(client, "/models?base=SD+1.5").text
    assert re.search(r'<optgroup label="Stable Diffusion 1">\s*<option value="SD 1.5" selected>', page)
    assert "SDXL 1.0" not in page, "only base models with published models are offered"


def test_cards_link_to_their_creator_and_tags_on_the_model_page_link_to_their_listing(
    client: TestClient, runtime: Runtime, owner: UserFixture
) -> None:
    made = create_model(runtime, owner, name="Linked", published=True, with_post=False, tags=["ink wash/brush"])
    assert "/user/inkmaker" in hrefs(view(client, "/models").text)
    model_page = view(client, f"/models/{made.id}").text
    assert "/user/inkmaker" in hrefs(model_page)
    assert "/tag/ink%20wash%2Fbrush" in hrefs(model_page)
    assert card_names(view(client, "/tag/ink%20wash%2Fbrush").text) == ["Linked"]


# --- the home page ------------------------------------------------------------------------------------------------


def test_a_home_search_answers_first(client: TestClient, runtime: Runtime, owner: UserFixture) -> None:
    create_model(runtime, owner, name="Ink wash", published=True, with_post=False)
    index_all(runtime)
    found = view(client, "/?q=ink").text
    assert found.index("Results for “ink”") < found.index("What you can do here")
    assert 'class="hero' not in found, "the pitch gives way to the results"
    assert card_names(found) == ["Ink wash"] and "/models?q=ink" in hrefs(found)
    assert 'class="hero' in view(client, "/").text


# --- tag pages ----------------------------------------------------------------------------------------------------


def test_a_tag_page_lists_the_tags_models_with_the_same_filters(
    client: TestClient, runtime: Runtime, owner: UserFixture
) -> None:
    create_model(runtime, owner, name="Inked LoRA", published=True, with_post=False, tags=["ink"])
    create_model(runtime, owner, name="Inked VAE", type=ModelType.VAE, published=True, with_post=False, tags=["ink"])
    create_model(runtime, owner, name="Untagged", type=ModelType.Checkpoint, published=True, with_post=False)
    create_model(runtime, owner, name="Inked draft", type=ModelType.Poses, with_post=False, tags=["ink"])
    page = view(client, "/tag/Ink")
    assert page.status_code == 200
    assert chips(page.text) == ["All types", "LoRA", "VAE"], "the types there are among the tag's models"
    assert card_names(page.text) == ["Inked VAE", "Inked LoRA"] and "2 published models tagged ink" in page.text
    assert 'name="tag"' not in page.text, "the page's own tag is not offered as a filter"
    assert card_names(view(client, "/tag/ink?type=VAE").text) == ["Inked VAE"]
    assert "/tag/ink?type=LORA" in hrefs(page.text)


def test_a_tag_no_visible_model_carries_is_not_found(client: TestClient, runtime: Runtime, owner: UserFixture) -> None:
    create_model(runtime, owner, name="Secret", with_post=False, tags=["secret"])
    assert view(client, "/tag/secret").status_code == 404
    assert view(client, "/tag/nothing-at-all").status_code == 404
    assert view(client, "/tag/" + "x" * 61).status_code == 422
    log_in_page(client, owner)
    assert view(client, "/tag/secret").status_code == 404, "drafts are listed nowhere, not even to their owner"


# --- creator profiles ---------------------------------------------------------------------------------------------


def test_a_profile_shows_the_creator_their_models_and_totals(
    client: TestClient, runtime: Runtime, owner: UserFixture
) -> None:
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        assert user is not None
        user.display_name, user.bio = "Ink Maker", "Brushes & washes.\nSince 2020."
        user.links = [{"label": "Portfolio", "url": "https://example.com/ink"}]
    shown = create_model(runtime, owner, name="Shown", published=True, with_post=False)
    create_model(runtime, owner, name="Drafted", with_post=False)
    create_model(
        runtime, create_user(runtime), name="Someone else's", type=ModelType.VAE, published=True, with_post=False
    )
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == shown.id).values(download_count=1234))
    page = view(client, "/user/INKMAKER")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Ink Maker</h1>" in text and "@inkmaker" in text and "Brushes &amp; washes.\nSince 2020." in text
    assert 'href="https://example.com/ink" rel="nofollow ugc noopener">Portfolio' in text
    assert "joined <time" in text
    assert card_names(text) == ["Shown"]
    assert re.search(r'stat__value">1</span><span class="stat__label">published model<', text)
    assert re.search(r'stat__value">1,234</span><span class="stat__label">downloads<', text)
    assert "/user/inkmaker?type=LORA" in hrefs(text)
    assert chips(text) == ["All types", "LoRA"], "someone else's model adds no type here"


def test_profiles_of_banned_or_unknown_users_are_not_found(
    client: TestClient, runtime: Runtime, owner: UserFixture
) -> None:
    create_model(runtime, owner, name="Theirs", published=True, with_post=False)
    with runtime.db.transaction() as session:
        session.execute(update(User).where(User.id == owner.id).values(banned_at=utcnow()))
    assert view(client, "/user/inkmaker").status_code == 404
    assert view(client, "/user/nobody").status_code == 404
    assert view(client, "/user/" + "x" * 41).status_code == 422


def test_a_creator_without_models_has_a_profile_saying_so(client: TestClient, runtime: Runtime) -> None:
    create_user(runtime, username="newcomer")
    page = view(client, "/user/newcomer")
    assert page.status_code == 200 and "newcomer has not published a model yet" in page.text


# --- the base-model picker ----------------------------------------------------------------------------------------


def test_the_base_model_picker_is_grouped_by_family(client: TestClient, runtime: Runtime, owner: UserFixture) -> None:
    made = create_model(runtime, owner, name="Picker", with_post=False)
    log_in_page(client, owner)
    page = view(client, f"/models/{made.id}/versions/new").text
    families = re.findall(r'<optgroup label="([^"]*)">', page)
    # In FAMILY_NAMES order; SD 3's are all hidden, so it has no group.
    assert families[:4] == ["Stable Diffusion 1", "Stable Diffusion 2", "SDXL and its descendants", "Flux.1"]
    sdxl = page.split('<optgroup label="SDXL and its descendants">')[1].split("</optgroup>")[0]
    assert re.findall(r'<option value="([^"]*)"', sdxl) == ["Illustrious", "NoobAI", "Pony", "Pony V7", "SDXL 1.0",
                                                           "SDXL Hyper", "SDXL Lightning"]  # fmt: skip
    assert 'value="SDXL 0.9"' not in page, "hidden base models are not offered for new versions"
