"""The images' visibility matrix: every state an image can be in that hides it from someone, x every kind of
viewer, x every way in, through the real app. What each viewer should get is written once (`EXPECTED`); a new
state is a row, a new viewer an entry of `VIEWERS`, a new way in a function in `WAYS`.

The rule under test is `images.visibility` (published post, ingestion finished, not blocked) intersected, for
lists, with the viewer's browsing level (`accounts.browsing`); an image's page and its post show an image outside
the viewer's level as a notice, never the picture, except to its owner and moderators. A public image's stable
address answers anyone who has it: levels filter what is listed, not who may open a picture.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelyard.accounts.models import Role
from modelyard.core.runtime import Runtime
from modelyard.images.models import BlockedFor, Image, Ingestion
from modelyard.images.urls import public_path
from tests.images.test_feed import add_image, set_level
from tests.images.test_showcase import png
from tests.search.test_listing_search import index_all
from tests.support.factories import UserFixture, create_user, log_in

HTML = {"Accept": "text/html"}
SECRET = "a prompt its owner keeps"

# viewer -> (who, their browsing level); None is an anonymous visitor.
VIEWERS: dict[str, tuple[str | None, int]] = {
    "anonymous": (None, 1),
    "other": ("other", 1),
    "other_r": ("other", 1 | 2 | 4),
    "owner": ("owner", 1),
    "mod": ("mod", 1),
}
ALL = frozenset(VIEWERS)
OWNER_MOD = frozenset({"owner", "mod"})
NOBODY: frozenset[str] = frozenset()

COLUMNS = ("listed", "page", "post", "media", "meta")
# listed: in /api/v1/images (the viewer's own level: no nsfw or browsingLevel asked) and on the /images page, and
# found by a search of its creator's name (`SEARCH_WAYS`: the public API's `query`, the site's search API);
# page: /images/{id} shows the picture; post: the post's JSON lists it; media: its stable address answers;
# meta: its generation data reaches the viewer (the API with withMeta, and the image's page).
R_VIEWER = frozenset({"other_r"})
R_OWNER_MOD = R_VIEWER | OWNER_MOD
ONLY_OWNER = frozenset({"owner"})
R_OWNER = R_VIEWER | ONLY_OWNER  # a post lists what the viewer's level shows, and everything to its owner
# fmt: off
EXPECTED: dict[str, tuple[frozenset[str], ...]] = {
    # state        listed    page         post         media   meta
    "public":      (ALL,     ALL,         ALL,         ALL,    ALL),
    "rated_r":     (R_VIEWER, R_OWNER_MOD, R_OWNER,     ALL,   R_OWNER_MOD),
    "pending":     (NOBODY,  OWNER_MOD,   ONLY_OWNER,  NOBODY, OWNER_MOD),
    "blocked":     (NOBODY,  OWNER_MOD,   ONLY_OWNER,  NOBODY, OWNER_MOD),
    "error":       (NOBODY,  OWNER_MOD,   ONLY_OWNER,  NOBODY, OWNER_MOD),
    "draft":       (NOBODY,  OWNER_MOD,   OWNER_MOD,   NOBODY, OWNER_MOD),
    "hidden_meta": (ALL,     ALL,         ALL,         ALL,    OWNER_MOD),
}
# fmt: on
assert all(len(row) == len(COLUMNS) for row in EXPECTED.values())


def _make(runtime: Runtime, owner: UserFixture, state: str) -> int:
    image_id = add_image(
        runtime,
        owner,
        level=4 if state == "rated_r" else 1,
        published=state != "draft",
        meta={"prompt": SECRET, "steps": 20},
        hide_meta=state == "hidden_meta",
        ingestion={"pending": Ingestion.Pending, "error": Ingestion.Error, "blocked": Ingestion.Blocked}.get(
            state, Ingestion.Scanned
        ),
    )
    with runtime.db.transaction() as session:
        image = session.get(Image, image_id)
        assert image is not None
        if state == "blocked":
            image.blocked_for = BlockedFor.moderated
        runtime.storage.save(image.storage_key, png(), content_type="image/webp")
    return image_id


def _listed(client: TestClient, image: Image) -> bool:
    found = client.get("/api/v1/images", params={"postId": image.post_id, "withMeta": "true"})
    assert found.status_code == 200, found.text
    in_api = any(item["id"] == image.id for item in found.json()["items"])
    page = client.get("/images", headers=HTML)
    assert page.status_code == 200
    on_page = f'href="/images/{image.id}"' in page.text
    assert in_api == on_page, f"the API and the page disagree on image {image.id}"
    return in_api


def _page(client: TestClient, image: Image) -> bool:
    found = client.get(f"/images/{image.id}", headers=HTML)
    if found.status_code == 404:
        return False
    assert found.status_code == 200, found.text
    stem = image.storage_key.rsplit("/", 1)[-1].split(".", 1)[0]
    return re.search(rf"<img[^>]+src=\"[^\"]*{re.escape(stem)}", found.text) is not None


def _post(client: TestClient, image: Image) -> bool:
    found = client.get(f"/api/posts/{image.post_id}")
    if found.status_code == 404:
        return False
    assert found.status_code == 200, found.text
    return any(item["id"] == image.id for item in found.json()["images"])


def _media(client: TestClient, image: Image) -> bool:
    found = client.get(public_path(image.storage_key))
    assert found.status_code in (200, 404), found.status_code
    return found.status_code == 200


def _meta(client: TestClient, image: Image) -> bool:
    in_api = any(
        item["id"] == image.id and item["meta"] is not None
        for item in client.get("/api/v1/images", params={"imageId": image.id, "withMeta": "true"}).json()["items"]
    )
    on_page = SECRET in client.get(f"/images/{image.id}", headers=HTML).text
    return in_api or on_page


def _searched(client: TestClient, path: str, params: dict[str, Any], image: Image) -> bool:
    found = client.get(path, params=params)
    assert found.status_code == 200, found.text
    return any(item["id"] == image.id for item in found.json()["items"])


# Ways in by a search, each checked against the `listed` column: the index finds, the listing's rule decides.
SEARCH_WAYS: dict[str, Callable[[TestClient, Image, str], bool]] = {
    "v1_search": lambda c, i, name: _searched(c, "/api/v1/images", {"query": name, "postId": i.post_id}, i),
    "site_search": lambda c, i, name: _searched(c, "/api/search", {"index": "images", "q": name, "limit": 100}, i),
}


WAYS: dict[str, Callable[[TestClient, Image], bool]] = {
    "listed": _listed,
    "page": _page,
    "post": _post,
    "media": _media,
    "meta": _meta,
}
assert tuple(WAYS) == COLUMNS


@pytest.mark.parametrize("state", list(EXPECTED))
def test_image_visibility(runtime: Runtime, app, state: str) -> None:
    owner, other = create_user(runtime), create_user(runtime)
    moderator = create_user(runtime, role=Role.moderator)
    people = {"owner": owner, "other": other, "mod": moderator}
    image_id = _make(runtime, owner, state)
    index_all(runtime)  # the state was set behind the search outbox's back
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        assert image is not None
        session.expunge(image)
    got: dict[str, frozenset[str]] = {column: frozenset() for column in (*COLUMNS, *SEARCH_WAYS)}
    for viewer, (who, level) in VIEWERS.items():
        with TestClient(app) as client:
            if who is not None:
                set_level(runtime, people[who], level)
                log_in(client, people[who])
            for column, way in WAYS.items():
                if way(client, image):
                    got[column] |= {viewer}
            for name, search in SEARCH_WAYS.items():
                if search(client, image, owner.username):
                    got[name] |= {viewer}
    expected = dict(zip(COLUMNS, EXPECTED[state], strict=True))
    expected |= dict.fromkeys(SEARCH_WAYS, expected["listed"])
    wrong = {way: (sorted(got[way]), sorted(expected[way])) for way in expected if got[way] != expected[way]}
    assert not wrong, f"{state}: (got, expected) per way in: {wrong}"
