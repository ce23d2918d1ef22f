"""The site's search JSON API: `GET /api/search` and `GET /api/search/suggest`, their shapes, their levels (never
wider than the caller's own) and their 400s."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelyard.core.runtime import Runtime
from tests.search.test_search_pages import browse_at, seed
from tests.support.factories import log_in


def names(body: dict[str, Any]) -> list[str]:
    return [item["name"] for item in body["items"]]


def test_models_come_with_their_shape_facets_and_metadata(client: TestClient, runtime: Runtime) -> None:
    seeded = seed(runtime)
    response = client.get("/api/search", params={"q": "ink", "facets": "type,tag", "sort": "downloads"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    first = body["items"][0]
    assert first == {
        "id": seeded.models["Ink wash LoRA"],
        "name": "Ink wash LoRA",
        "type": "LORA",
        "creator": "inkmaker",
        "baseModel": "SD 1.5",
        "nsfwLevel": 1,
        "downloadCount": 50,
        "publishedAt": first["publishedAt"],
        "url": f"http://testserver/models/{seeded.models['Ink wash LoRA']}",
        "coverUrl": None,
    }
    assert first["publishedAt"].endswith("Z")
    assert "Ink noir" not in names(body), "rated R: not an anonymous caller's level"
    assert set(body["facets"]) == {"type", "tag"}
    assert {"value": "Checkpoint", "count": 1} in body["facets"]["type"]
    assert {"value": "ink", "count": 2} in body["facets"]["tag"]
    metadata = body["metadata"]
    assert metadata["total"] == len(body["items"]) and metadata["totalIsLowerBound"] is False
    assert metadata["nextCursor"] is None and "correctedQuery" in metadata


def test_filters_of_one_facet_are_alternatives_and_facets_intersect(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    both = client.get("/api/search", params=[("q", "ink"), ("type", "LORA"), ("type", "Checkpoint"), ("tag", "ink")])
    assert sorted(names(both.json())) == ["Ink photo", "Ink wash LoRA"]
    one = client.get("/api/search", params=[("q", "ink"), ("type", "Checkpoint"), ("tag", "ink")])
    assert names(one.json()) == ["Ink photo"]


def test_creators_and_tags_have_their_own_shapes(client: TestClient, runtime: Runtime) -> None:
    seeded = seed(runtime)
    users = client.get("/api/search", params={"index": "users", "q": "inkmaker"}).json()
    assert users["items"][0] == {
        "id": seeded.owner.id,
        "username": "inkmaker",
        "url": "http://testserver/user/inkmaker",
        "modelCount": 3,
        "downloadCount": 50,
    }
    tags = client.get("/api/search", params={"index": "tags", "q": "ink"}).json()
    assert {"name": "ink", "url": "http://testserver/tag/ink", "modelCount": 2} in tags["items"]


def test_a_corrected_query_is_said(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    body = client.get("/api/search", params={"q": "watercolr"}).json()
    assert names(body) == ["Watercolor"] and body["metadata"]["correctedQuery"] == "watercolor"
    assert client.get("/api/search", params={"q": "watercolor"}).json()["metadata"]["correctedQuery"] is None


def test_a_wider_browsing_level_is_narrowed_to_the_callers(client: TestClient, runtime: Runtime) -> None:
    seeded = seed(runtime)
    anonymous = client.get("/api/search", params={"q": "ink", "browsingLevel": 31}).json()
    assert "Ink noir" not in names(anonymous)
    assert client.get("/api/search", params={"q": "ink", "browsingLevel": 4}).json()["items"] == []
    browse_at(runtime, seeded.other, 1 | 4)
    log_in(client, seeded.other)
    mine = client.get("/api/search", params={"q": "ink", "browsingLevel": 63}).json()
    assert "Ink noir" in names(mine)
    assert names(client.get("/api/search", params={"q": "ink", "browsingLevel": 4}).json()) == ["Ink noir"]
    assert "Ink noir" not in names(client.get("/api/search", params={"q": "ink", "browsingLevel": 1}).json())


def test_pages_follow_the_cursor_to_the_end(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"q": "ink", "sort": "newest", "limit": 1} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/search", params=params).json()
        seen += names(body)
        cursor = body["metadata"]["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 3 and cursor is None


@pytest.mark.parametrize(
    "params",
    [
        {"index": "articles"},
        {"sort": "best"},
        {"window": "year"},
        {"mode": "magic"},
        {"facets": "type,color"},
        {"index": "users", "facets": "type"},
        {"index": "users", "type": "LORA"},
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"browsingLevel": 64},
        {"browsingLevel": -1},
        {"cursor": "not-a-cursor"},
        {"cursor": "x" * 5000},
        {"type": "x" * 101},
    ],
)
def test_bad_parameters_are_400s(client: TestClient, runtime: Runtime, params: dict[str, Any]) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


def test_a_tampered_or_foreign_cursor_is_a_400(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    cursor = client.get("/api/search", params={"q": "ink", "limit": 1}).json()["metadata"]["nextCursor"]
    assert cursor
    assert client.get("/api/search", params={"q": "ink", "limit": 1, "cursor": cursor}).status_code == 200
    tampered = cursor[:-3] + ("aaa" if not cursor.endswith("aaa") else "bbb")
    assert client.get("/api/search", params={"q": "ink", "limit": 1, "cursor": tampered}).status_code == 400
    assert client.get("/api/search", params={"q": "photo", "limit": 1, "cursor": cursor}).status_code == 400
    assert client.get("/api/search", params={"q": "ink", "sort": "newest", "cursor": cursor}).status_code == 400


def test_any_text_is_searched_never_parsed(client: TestClient, runtime: Runtime) -> None:
    seed(runtime)
    for text in ["", '" * ( ) : ^ - + OR NEAR \' ; \\ %', "ink*", "ink OR photo", "🎨🖌️", "'; DROP TABLE model; --",
                 "x" * 10_000, "NEAR(ink photo)", "ink^2", "-ink", "Ink wash LoRA"]:  # fmt: skip
        response = client.get("/api/search", params={"q": text, "mode": "keyword"})
        assert response.status_code == 200, (text[:30], response.text)
    assert client.get("/api/search", params={"q": "ink\x00"}).status_code == 400
    assert client.get("/api/search", params={"limit": 100}).status_code == 200


def test_suggestions_name_what_they_point_at(client: TestClient, runtime: Runtime) -> None:
    seeded = seed(runtime)
    body = client.get("/api/search/suggest", params={"q": "ink"}).json()
    items = body["items"]
    assert items and all(set(item) == {"index", "id", "label", "url"} for item in items)
    model = next(item for item in items if item["index"] == "models")
    assert model["url"] == f"http://testserver/models/{model['id']}" and model["label"].startswith("Ink")
    creator = {"index": "users", "id": seeded.owner.id, "label": "inkmaker", "url": "http://testserver/user/inkmaker"}
    assert creator in items
    assert all(item["label"] != "Ink noir" for item in items), "rated R: not suggested to anonymous callers"
    assert client.get("/api/search/suggest", params={"q": ""}).json() == {"items": []}
    assert client.get("/api/search/suggest", params={"q": '🎨" OR ('}).status_code == 200
