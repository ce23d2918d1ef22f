"""Hostile and odd input to every way a search is asked (`/api/v1/models?query=`, `/api/v1/images?query=`,
`/api/search`): empty and huge queries, full-text syntax and SQL metacharacters, Unicode, NUL, levels wider than
the viewer's, cursors of other questions or altered, page sizes and ids out of range. Each answer is a 200 or a
clear 400, never a 500, and what a viewer may not see stays hidden."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from modelyard.accounts.models import User
from modelyard.catalog.models import Model
from modelyard.core.runtime import Runtime
from tests.images.test_feed import add_image
from tests.search.test_listing_search import index_all
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user, log_in

MODELS, IMAGES, SEARCH = "/api/v1/models", "/api/v1/images", "/api/search"
HOSTILE = [
    '"',
    '"unclosed phrase',
    "ink*",
    "*",
    "(ink",
    "ink)",
    "name:ink",
    "^ink",
    "-ink",
    "+ink",
    "ink OR wash",
    "ink AND",
    "NOT ink",
    "NEAR(ink wash)",
    "ink NEAR/2 wash",
    "ink' OR '1'='1",
    "'; DROP TABLE model; --",
    "ink\\",
    "100% ink_",
    "ink & wash | !brush <-> :*",
    "{ink} [wash]",
    "ink::text",
    "$1 ? @@ ~",
    "ínk wásh",
    "\u200bink\u200f",
    "ink\t\nwash",
]


@pytest.fixture
def world(runtime: Runtime) -> dict[str, Any]:
    owner = create_user(runtime, username="quill")
    ink = create_model(runtime, owner, name="Ink wash", published=True, with_post=False, tags=["ink"])
    adult = create_model(runtime, owner, name="Ink nocturne", published=True, with_post=False)
    unicode = create_model(runtime, owner, name="水墨 حبر 🎨 brush", published=True, with_post=False)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == adult.id).values(nsfw=True, nsfw_level=4))
    image = add_image(runtime, owner, meta={"prompt": "ink wash heron"})
    index_all(runtime)
    return {"owner": owner, "ink": ink.id, "adult": adult.id, "unicode": unicode.id, "image": image}


def url(path: str, text: str, **extra: Any) -> str:
    name = "q" if path == SEARCH else "query"
    return f"{path}?{urlencode({name: text, **extra})}"


def items(client: TestClient, address: str) -> list[dict[str, Any]]:
    response = client.get(address)
    assert response.status_code == 200, (address, response.text)
    return response.json()["items"]


def refused(client: TestClient, address: str) -> str:
    response = client.get(address)
    assert response.status_code == 400, (address, response.status_code, response.text)
    return response.text


@pytest.mark.parametrize("path", [MODELS, IMAGES, SEARCH])
def test_an_empty_query_lists_as_no_query_does(client: TestClient, world: dict[str, Any], path: str) -> None:
    for text in ("", "   ", "\t"):
        assert items(client, url(path, text)) == items(client, path)


@pytest.mark.parametrize("path", [MODELS, IMAGES])
def test_a_10000_character_query_is_a_400_on_the_public_api(
    client: TestClient, world: dict[str, Any], path: str
) -> None:
    assert "at most" in refused(client, url(path, "ink " * 2500))


def test_a_10000_character_query_is_read_up_to_its_limit_on_the_site(client: TestClient, world: dict[str, Any]) -> None:
    found = items(client, url(SEARCH, "ink " * 2500, sort="newest", mode="keyword"))
    assert world["ink"] in [item["id"] for item in found]
    assert items(client, url(SEARCH, "x" * 10_000, mode="keyword")) == []
    items(client, url(SEARCH, "x" * 10_000))


@pytest.mark.parametrize("path", [MODELS, IMAGES, SEARCH])
def test_query_syntax_and_sql_metacharacters_are_words_not_syntax(
    client: TestClient, world: dict[str, Any], path: str
) -> None:
    for text in HOSTILE:
        items(client, url(path, text))
    with_sort = {"sort": "newest" if path == SEARCH else "Newest"}
    found = [item["id"] for item in items(client, url(path, '"ink" -(wash*) ^:', **with_sort))]
    assert (world["image"] if path == IMAGES else world["ink"]) in found


@pytest.mark.parametrize("path", [MODELS, SEARCH])
def test_unicode_words_are_found_and_emoji_are_harmless(client: TestClient, world: dict[str, Any], path: str) -> None:
    keyword = {"sort": "newest", "mode": "keyword"} if path == SEARCH else {"sort": "Newest"}
    for word in ("水墨", "حبر"):
        assert [item["id"] for item in items(client, url(path, word, **keyword))] == [world["unicode"]], word
    items(client, url(path, "🎨"))
    items(client, url(path, "\U0001f3a8\u200d\U0001f525 \u202eknI"))


@pytest.mark.parametrize("path", [MODELS, IMAGES, SEARCH])
def test_a_nul_character_is_a_400(client: TestClient, world: dict[str, Any], path: str) -> None:
    refused(client, url(path, "ink\x00wash"))


def test_levels_wider_than_the_viewers_are_narrowed_on_the_site(
    runtime: Runtime, app: Any, client: TestClient, world: dict[str, Any]
) -> None:
    def found(browser: TestClient) -> list[int]:
        return [item["id"] for item in items(browser, url(SEARCH, "ink", browsingLevel=31, sort="newest"))]

    assert world["adult"] not in found(client) and world["ink"] in found(client)  # anonymous: PG
    reader = create_user(runtime)
    with TestClient(app) as browser:
        log_in(browser, reader)
        assert world["adult"] not in found(browser)  # a new account: PG
        with runtime.db.transaction() as session:
            session.execute(update(User).where(User.id == reader.id).values(browsing_level=1 | 4))
        assert world["adult"] in found(browser)
    assert items(client, url(SEARCH, "ink", browsingLevel=4)) == []  # R only, narrowed to PG: nothing


@pytest.mark.parametrize("path", [MODELS, IMAGES, SEARCH])
def test_a_cursor_of_another_question_or_altered_is_a_400(
    runtime: Runtime, client: TestClient, world: dict[str, Any], path: str
) -> None:
    owner: UserFixture = world["owner"]
    for n in range(3):
        create_model(runtime, owner, name=f"Ink study {n}", published=True, with_post=False)
        add_image(runtime, owner, meta={"prompt": f"ink study {n}"})
    index_all(runtime)
    limit = {"limit": 1}
    response = client.get(url(path, "ink", **limit))
    assert response.status_code == 200, response.text
    cursor = response.json()["metadata"]["nextCursor"]
    assert cursor
    assert client.get(url(path, "ink", cursor=cursor, **limit)).status_code == 200
    refused(client, url(path, "study", cursor=cursor, **limit))
    refused(client, url(path, "ink", cursor=cursor, sort="Newest" if path != SEARCH else "newest", **limit))
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    refused(client, url(path, "ink", cursor=tampered, **limit))
    for junk in ("5|1", "0", "-1", "x" * 150, "2147483648"):
        refused(client, url(path, "ink", cursor=junk))


@pytest.mark.parametrize(("path", "too_many"), [(MODELS, 101), (IMAGES, 201), (SEARCH, 101)])
def test_page_sizes_past_the_limit_are_a_400(
    client: TestClient, world: dict[str, Any], path: str, too_many: int
) -> None:
    for limit in (too_many, -1, 10**12):
        assert "limit" in refused(client, url(path, "ink", limit=limit))
    if path == SEARCH:
        refused(client, url(path, "ink", limit=0))


@pytest.mark.parametrize(
    "extra",
    [
        (MODELS, {"ids": 2**31}),
        (MODELS, {"modelVersionIds": f"1,{2**31}"}),
        (MODELS, {"ids": -1}),
        (IMAGES, {"imageId": 2**31}),
        (IMAGES, {"modelId": 2**63}),
        (IMAGES, {"userId": 2**31}),
        (IMAGES, {"tags": 2**31}),
    ],
)
def test_ids_past_their_column_are_a_400(client: TestClient, world: dict[str, Any], extra: Any) -> None:
    path, values = extra
    refused(client, url(path, "ink", **values))


def test_a_facet_value_past_any_id_finds_nothing_on_the_site(client: TestClient, world: dict[str, Any]) -> None:
    assert items(client, url(SEARCH, "ink", index="images", model=str(2**63))) == []
    assert items(client, url(SEARCH, "ink", index="images", model=str(world["ink"]))) == []
