"""The search page (`/search`), its htmx fragments, the suggestions under the search boxes and the model page's
"Similar models" strip, through the real app and a real index."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import update

from modelyard.accounts.models import User
from modelyard.catalog.enums import ModelType
from modelyard.catalog.models import Model
from modelyard.core.runtime import Runtime
from modelyard.search.rebuild import rebuild_all
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user, log_in

INK = "Ink wash painting: loose brush strokes, black ink on rice paper, soft gradients of grey."
PHOTO = "Photorealistic portraits: natural skin, studio lighting, shallow depth of field, a camera's look."


@dataclass
class Seeded:
    owner: UserFixture
    other: UserFixture
    models: dict[str, int]


def index_everything(runtime: Runtime) -> None:
    """Every index rebuilt from the database as it is now, embeddings included (the tests change rows directly,
    which queues nothing for the index)."""
    rebuild_all(runtime)


def seed(runtime: Runtime) -> Seeded:
    """Four published models by two creators, one of them rated R (seen only by those who browse at R)."""
    owner = create_user(runtime, username="inkmaker")
    other = create_user(runtime, username="brushy")
    made = {
        "Ink wash LoRA": create_model(runtime, owner, name="Ink wash LoRA", published=True, with_post=False,
                                      tags=["ink", "anime"]),
        "Ink photo": create_model(runtime, owner, name="Ink photo", type=ModelType.Checkpoint, published=True,
                                  with_post=False, tags=["ink", "photo"]),
        "Watercolor": create_model(runtime, owner, name="Watercolor", published=True, with_post=False,
                                   tags=["paint"]),
        "Ink noir": create_model(runtime, other, name="Ink noir", published=True, with_post=False, tags=["ink"]),
    }  # fmt: skip
    with runtime.db.transaction() as session:
        descriptions = {"Ink wash LoRA": INK, "Ink photo": PHOTO, "Watercolor": INK, "Ink noir": INK}
        for name, fixture in made.items():
            session.execute(update(Model).where(Model.id == fixture.id).values(description=descriptions[name]))
        session.execute(update(Model).where(Model.id == made["Ink wash LoRA"].id).values(download_count=50))
        session.execute(update(Model).where(Model.id == made["Ink noir"].id).values(nsfw_level=4))
    index_everything(runtime)
    return Seeded(owner=owner, other=other, models={name: fixture.id for name, fixture in made.items()})


def browse_at(runtime: Runtime, user: UserFixture, level: int) -> None:
    with runtime.db.transaction() as session:
        session.execute(update(User).where(User.id == user.id).values(browsing_level=level))


def card_names(html: str) -> list[str]:
    return re.findall(r'<p class="model-card__name">([^<]*)</p>', html)


def facet_values(html: str, facet: str) -> dict[str, tuple[str, bool]]:
    """{value: (count, ticked)} of a facet's checkboxes in the sidebar."""
    found = {}
    pattern = (
        rf'<input id="[^"]+" type="checkbox" name="{facet}" value="([^"]+)"( checked)?>\s*'
        r'<span class="facet__label">[^<]*</span>\s*<span class="facet__count">(\d+)</span>'
    )
    for value, ticked, count in re.findall(pattern, html):
        found[value] = (count, bool(ticked))
    return found


def tab_counts(html: str) -> dict[str, str]:
    return dict(re.findall(r'class="search-tab"[^>]*>(\w+) <span class="count">([^<]+)</span>', html))


# --- the page -----------------------------------------------------------------------------------------------------


def test_the_page_finds_models_with_tabs_facets_and_sorts_for_anyone(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    response = client.get("/search", params={"q": "ink"})
    assert response.status_code == 200
    html = response.text
    assert set(card_names(html)) >= {"Ink wash LoRA", "Ink photo"}
    assert "Ink noir" not in card_names(html), "rated R: not at an anonymous visitor's level"
    counts = tab_counts(html)
    assert list(counts) == ["Models", "Images", "Creators", "Tags"]
    assert int(counts["Models"]) >= 2 and counts["Creators"] == "1" and int(counts["Tags"]) >= 1
    assert counts["Images"] == "0"
    types = facet_values(html, "type")
    assert types["Checkpoint"] == ("1", False) and int(types["LORA"][0]) >= 1
    assert facet_values(html, "tag")["ink"] == ("2", False)
    assert 'name="level"' not in html, "one level to choose from: no rating control"
    sorts = re.findall(
        r'<option value="(\w+)"[^>]*>([^<]+)</option>', html.split('name="sort"')[1].split("</select>")[0]
    )
    assert sorts == [("relevance", "Best match"), ("newest", "Newest"), ("downloads", "Most downloaded"),
                     ("trending", "Trending")]  # fmt: skip
    assert 'name="window"' not in html, "a window only for the trending sort"
    assert 'id="header-q"' not in html, "the page's own box stands in for the header's"
    assert "Ink wash LoRA" in html and 'role="combobox"' in html


def test_a_signed_in_viewer_sees_their_levels_and_can_narrow_them(client: TestClient, runtime: Runtime) -> None:
    seeded = seed(runtime)
    browse_at(runtime, seeded.other, 1 | 2 | 4)
    log_in(client, seeded.other)
    html = client.get("/search", params={"q": "ink"}).text
    assert "Ink noir" in card_names(html)
    assert re.findall(r'name="level" value="(\d+)"( checked)?', html) == [("1", " checked"), ("2", " checked"),
                                                                            ("4", " checked")]  # fmt: skip
    narrowed = client.get("/search", params={"q": "ink", "level": "1"}).text
    assert "Ink noir" not in card_names(narrowed) and "Ink wash LoRA" in card_names(narrowed)
    assert re.findall(r'name="level" value="(\d+)"( checked)?', narrowed) == [("1", " checked"), ("2", ""), ("4", "")]
    # A level they do not browse at is not theirs to ask for: XXX alone narrows to nothing of theirs.
    wider = client.get("/search", params={"q": "ink", "level": ["4", "16"]}).text
    assert card_names(wider) == ["Ink noir"]


def test_a_facet_narrows_and_stays_shown_ticked_with_a_way_back(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    html = client.get("/search", params={"q": "ink", "type": "Checkpoint"}).text
    assert card_names(html) == ["Ink photo"]
    assert facet_values(html, "type")["Checkpoint"] == ("1", True)
    chips = re.findall(r'<a class="chip chip--remove" href="([^"]+)" hx-get="([^"]+)"', html)
    assert len(chips) == 1
    page_url, fragment_url = (chip.replace("&amp;", "&") for chip in chips[0])
    assert parse_qs(urlsplit(page_url).query) == {"q": ["ink"]} and urlsplit(fragment_url).path == "/search/results"
    # A value nothing matches any more stays in the sidebar, ticked, so it can be unticked.
    none = client.get("/search", params={"q": "ink", "type": "VAE"}).text
    assert facet_values(none, "type")["VAE"] == ("0", True)
    assert "No models match “ink” with these filters" in none
    assert "Clear filters" in none


def test_the_trending_sort_offers_its_windows(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    html = client.get("/search", params={"q": "ink", "sort": "trending", "window": "month"}).text
    assert re.search(r'<option value="month" selected>This month</option>', html)
    assert re.search(r'<option value="trending" selected>', html)
    # A sort whose data does not exist yet is not offered, and not honoured from a URL either.
    rated = client.get("/search", params={"q": "ink", "sort": "rating"}).text
    assert re.search(r'<option value="relevance" selected>', rated) and "Highest rated" not in rated


def test_the_other_tabs_list_creators_and_tags(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    creators = client.get("/search", params={"q": "inkmaker", "index": "users"}).text
    assert 'href="/user/inkmaker"' in creators and "3 models · 50 downloads" in creators
    tags = client.get("/search", params={"q": "ink", "index": "tags"}).text
    assert 'href="/tag/ink"' in tags and "2 models" in tags, "Ink noir is rated R: anonymous visitors count 2"
    images = client.get("/search", params={"q": "ink", "index": "images"})
    assert images.status_code == 200 and "No images match “ink”" in images.text


def test_a_misspelling_is_read_as_the_word_it_resembles(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    html = client.get("/search", params={"q": "watercolr"}).text
    assert card_names(html) == ["Watercolor"] and "1 model for “watercolor”" in html
    assert 'Did you mean <a href="/search?q=watercolor" hx-get="/search/results?q=watercolor">watercolor</a>?' in html
    assert "Did you mean" not in client.get("/search", params={"q": "watercolor"}).text


def test_empty_and_hostile_queries_answer_a_page(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    for text in ["", "   ", "\" * ( ) : ^ - + OR NEAR ' ; \\ %", "🎨 インク", "x" * 10_000, "ink\u202e", "NOT AND OR"]:
        response = client.get("/search", params={"q": text})
        assert response.status_code == 200, (text[:20], response.status_code)
    browse = client.get("/search").text
    assert len(card_names(browse)) == 3, "no words: everything at the viewer's level"
    for params in [{"index": "nope"}, {"sort": "nope"}, {"window": "nope"}, {"type": "x" * 500}, {"level": "999"}]:
        assert client.get("/search", params=params).status_code == 200, params


def test_the_results_fragment_pushes_the_page_address(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    response = client.get("/search/results", params={"q": "ink", "type": "Checkpoint", "sort": "newest"})
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"] == "/search?q=ink&sort=newest&type=Checkpoint"
    assert "<html" not in response.text and card_names(response.text) == ["Ink photo"]
    assert 'name="index" value="models"' in response.text


def test_infinite_scroll_pages_with_the_cursor_and_refuses_a_tampered_one(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    first = client.get("/api/search", params={"q": "ink", "limit": 1}).json()
    cursor = first["metadata"]["nextCursor"]
    assert cursor
    more = client.get("/search/results", params={"q": "ink", "cursor": cursor, "more": 1})
    assert more.status_code == 200 and "HX-Push-Url" not in more.headers
    assert more.text.lstrip().startswith("<li"), "list items only, appended where the sentinel was"
    assert client.get("/search/results", params={"q": "ink", "cursor": cursor[:-2] + "xx"}).status_code == 400
    assert client.get("/search/results", params={"q": "ink", "cursor": "garbage", "more": 1}).status_code == 400
    assert client.get("/search", params={"q": "ink", "cursor": "garbage"}).status_code == 400


def test_a_full_page_ends_in_a_sentinel_that_loads_the_next(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime, username="prolific")
    for n in range(26):
        create_model(runtime, owner, name=f"Sketch {n:02}", published=True, with_post=False, tags=["sketch"])
    index_everything(runtime)
    html = client.get("/search", params={"q": "sketch", "sort": "newest"}).text
    assert len(card_names(html)) == 24
    sentinel = re.search(
        r'<li class="search-more" hx-get="([^"]+)" hx-trigger="revealed"[^>]*>\s*<a[^>]*href="([^"]+)"', html
    )
    assert sentinel is not None
    fragment, link = (part.replace("&amp;", "&") for part in sentinel.groups())
    rest = client.get(fragment).text
    assert card_names(rest) == ["Sketch 01", "Sketch 00"] and "search-more" not in rest
    assert card_names(client.get(link).text) == ["Sketch 01", "Sketch 00"], "without JavaScript: the next page"


# --- suggestions, the header box, the model page ----------------------------------------------------------------


def test_suggestions_list_models_creators_and_tags_then_the_search(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    html = client.get("/search/suggest", params={"q": "ink"}).text
    options = re.findall(r'<a href="([^"]+)" tabindex="-1"><span class="suggest__label">([^<]+)</span>', html)
    assert options[-1] == ("/search?q=ink", "Search for “ink”")
    assert any(url.startswith("/models/") and label.startswith("Ink") for url, label in options)
    assert ("/user/inkmaker", "inkmaker") in options and ("/tag/ink", "ink") in options
    assert client.get("/search/suggest", params={"q": ""}).text.strip() == ""
    assert client.get("/search/suggest", params={"q": '🎨" OR 1=1 --'}).status_code == 200


def test_every_other_page_has_the_header_search_box(client: TestClient, runtime: Runtime) -> None:
    html = client.get("/models").text
    assert '<form class="header-search" action="/search" method="get" role="search"' in html
    assert 'id="header-q"' in html and 'aria-controls="header-q-suggestions"' in html
    assert "Search everything" in client.get("/").text, "the landing page lists it"


def test_the_model_page_loads_similar_models_lazily(client: TestClient, runtime: Runtime) -> None:
    seeded = seed(runtime)
    model_id = seeded.models["Ink wash LoRA"]
    page = client.get(f"/models/{model_id}").text
    assert f'hx-get="/search/similar/models/{model_id}" hx-trigger="revealed"' in page
    strip = client.get(f"/search/similar/models/{model_id}").text
    names = card_names(strip)
    assert "Similar models" in strip and "Ink wash LoRA" not in names
    assert "Watercolor" in names and "Ink noir" not in names, "the same description; R is not anonymous's level"
    unknown = client.get("/search/similar/models/999999")
    assert unknown.status_code == 200 and unknown.text.strip() == "", "none: no strip at all"
    assert client.get("/search/similar/models/99999999999").status_code in (400, 422)
