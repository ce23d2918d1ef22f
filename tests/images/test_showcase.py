"""A version's showcase as its owner arranges it through the JSON API: add several pictures, reorder them, pick the
cover, remove one; only the owner may, bad input changes nothing, and the model's cover and page follow."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from modelyard.accounts.models import Role
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog import showcase
from modelyard.catalog.showcase import NewPicture
from modelyard.core.jobs.models import Job
from modelyard.core.runtime import get_runtime
from modelyard.images import upkeep
from modelyard.images.models import Image, Post
from modelyard.images.showcases import MAX_SHOWCASE_IMAGES
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import UserFixture, create_api_key, create_user
from tests.support.ingestion import run_ingestion


def png(color: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def bearer(runtime, user: UserFixture, scopes: TokenScope | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(runtime, user, scopes=scopes)}"}


@pytest.fixture
def owner(runtime) -> UserFixture:
    return create_user(runtime)


@pytest.fixture
def made(runtime, owner) -> ModelFixture:
    return create_model(runtime, owner, with_post=False, published=True)


def showcase_url(made: ModelFixture) -> str:
    return f"/api/model-versions/{made.version_ids[0]}/showcase"


def add(client, made, headers, *colors: str):
    """Add pictures through the API, then run their ingestion jobs as a worker would (the answer is the API's, from
    before: the pictures Pending)."""
    files = [("images", (f"{color}.png", png(color))) for color in colors]
    response = client.post(showcase_url(made), files=files, headers=headers)
    if response.status_code == 201:
        run_ingestion(get_runtime())
    return response


def names(body) -> list[str]:
    return [image["name"] for image in body["images"]]


def test_add_reorder_pick_the_cover_and_remove(runtime, client, owner, made):
    headers = bearer(runtime, owner)
    added = add(client, made, headers, "red", "green")
    assert added.status_code == 201, added.text
    assert names(added.json()) == ["red.png", "green.png"]
    assert [image["cover"] for image in added.json()["images"]] == [True, False]
    assert all(image["published"] for image in added.json()["images"]), "the version is live: so are they"
    body = add(client, made, headers, "blue").json()
    assert names(body) == ["red.png", "green.png", "blue.png"]
    red, green, blue = (image["id"] for image in body["images"])

    body = client.put(f"{showcase_url(made)}/order", json={"image_ids": [blue, red, green]}, headers=headers).json()
    assert names(body) == ["blue.png", "red.png", "green.png"]
    body = client.put(f"{showcase_url(made)}/cover", json={"image_id": green}, headers=headers).json()
    assert names(body) == ["green.png", "blue.png", "red.png"] and body["images"][0]["cover"]
    response = client.delete(f"{showcase_url(made)}/images/{blue}", headers=headers)
    assert response.status_code == 200, response.text
    assert names(response.json()) == ["green.png", "red.png"]

    assert client.get(showcase_url(made), headers=headers).json() == response.json()
    with runtime.db.session() as session:
        assert session.get(Image, blue) is None
        cover = showcase.covers(session, [made.version_ids[0]])[made.version_ids[0]]
        assert cover.id == green, "the lists' cover is the showcase's first picture"
        jobs = session.scalars(select(Job).where(Job.name == "images.forget_object")).all()
        assert [job.payload["storage_key"] for job in jobs] != []
    page = client.get(f"/models/{made.id}").text
    assert page.index(f"/{_key(runtime, green)}") < page.index(f"/{_key(runtime, red)}")


def _key(runtime, image_id: int) -> str:
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        assert image is not None
        return image.storage_key


def test_pictures_of_a_draft_wait_for_the_version(runtime, client, owner):
    draft = create_model(runtime, owner, with_post=False)
    headers = bearer(runtime, owner)
    body = add(client, draft, headers, "red").json()
    assert body["images"][0]["published"] is False
    assert client.get(f"/api/v1/images?modelId={draft.id}").json()["items"] == []
    assert client.post(f"/api/models/{draft.id}/publish", json={}, headers=headers).status_code == 200
    assert client.get(showcase_url(draft), headers=headers).json()["images"][0]["published"] is True
    assert len(client.get(f"/api/v1/images?modelId={draft.id}").json()["items"]) == 1


def test_a_post_fills_up_then_a_new_one_starts(runtime, client, owner, made):
    headers = bearer(runtime, owner)
    for _ in range(2):
        response = add(client, made, headers, *["red"] * 12)
        assert response.status_code == 201, response.text
    assert len(response.json()["images"]) == 24
    with runtime.db.session() as session:
        sizes = [len(post.images) for post in session.scalars(select(Post).order_by(Post.id))]
    assert sizes == [20, 4]
    ids = [image["id"] for image in response.json()["images"]]
    reordered = client.put(f"{showcase_url(made)}/order", json={"image_ids": ids[::-1]}, headers=headers)
    assert [image["id"] for image in reordered.json()["images"]] == ids[::-1], "the order spans both posts"


def test_only_the_owner_arranges(runtime, client, owner, made):
    add(client, made, bearer(runtime, owner), "red")
    image_id = client.get(showcase_url(made), headers=bearer(runtime, owner)).json()["images"][0]["id"]
    other = bearer(runtime, create_user(runtime))
    moderator = bearer(runtime, create_user(runtime, role=Role.moderator))
    for headers in (other, moderator):
        assert client.get(showcase_url(made), headers=headers).status_code == 403
        assert add(client, made, headers, "blue").status_code == 403
        assert client.delete(f"{showcase_url(made)}/images/{image_id}", headers=headers).status_code == 403
    assert client.get(showcase_url(made)).status_code == 401
    draft = create_model(runtime, owner, with_post=False)
    assert client.get(showcase_url(draft), headers=other).status_code == 404, "what they cannot see is not there"
    narrow = bearer(runtime, owner, TokenScope.ModelsRead)
    assert client.get(showcase_url(made), headers=narrow).status_code == 403
    reader = bearer(runtime, owner, TokenScope.MediaRead)
    assert client.get(showcase_url(made), headers=reader).status_code == 200
    assert add(client, made, reader, "blue").status_code == 403
    with runtime.db.session() as session:
        assert session.scalar(select(Image.id).where(Image.id != image_id)) is None


@pytest.mark.parametrize(
    "body",
    [
        {"image_ids": []},
        {"image_ids": [2**31]},
        {"image_ids": [2**63 + 1]},
        {"image_ids": ["x"]},
        {"image_ids": [1] * (MAX_SHOWCASE_IMAGES + 1)},
        {},
    ],
)
def test_a_bad_order_changes_nothing(runtime, client, owner, made, body):
    headers = bearer(runtime, owner)
    add(client, made, headers, "red", "green")
    before = client.get(showcase_url(made), headers=headers).json()
    response = client.put(f"{showcase_url(made)}/order", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert client.get(showcase_url(made), headers=headers).json() == before


def test_an_order_must_list_each_picture_once(runtime, client, owner, made):
    headers = bearer(runtime, owner)
    add(client, made, headers, "red", "green")
    before = client.get(showcase_url(made), headers=headers).json()
    red, green = (image["id"] for image in before["images"])
    someone_elses = create_model(runtime, create_user(runtime), published=True).image_ids[0]
    for ids in ([red], [red, red], [red, green, someone_elses], [green, someone_elses]):
        response = client.put(f"{showcase_url(made)}/order", json={"image_ids": ids}, headers=headers)
        assert response.status_code == 422, ids
    assert (
        client.put(f"{showcase_url(made)}/cover", json={"image_id": someone_elses}, headers=headers).status_code == 404
    )
    assert client.delete(f"{showcase_url(made)}/images/{someone_elses}", headers=headers).status_code == 404
    assert client.get(showcase_url(made), headers=headers).json() == before
    with runtime.db.session() as session:
        assert session.get(Image, someone_elses) is not None


def test_bad_files_store_nothing(runtime, client, owner, made):
    headers = bearer(runtime, owner)
    stored = set(runtime.storage.iter_keys("images/"))
    files = [("images", ("a.png", png("orange"))), ("images", ("b.png", b"\x89PNG not really"))]
    assert client.post(showcase_url(made), files=files, headers=headers).status_code == 422
    assert client.post(showcase_url(made), headers=headers).status_code == 422
    many = [("images", (f"{n}.png", png())) for n in range(21)]
    assert client.post(showcase_url(made), files=many, headers=headers).status_code == 422
    with runtime.db.session() as session:
        assert session.scalar(select(Image.id)) is None
    assert set(runtime.storage.iter_keys("images/")) == stored


def test_a_removed_pictures_bytes_go_once_no_image_uses_them(runtime, client, owner, made):
    headers = bearer(runtime, owner)
    body = add(client, made, headers, "red", "red").json()
    first, second = (image["id"] for image in body["images"])
    key = _key(runtime, first)
    assert key == _key(runtime, second), "equal pictures share a content address"
    client.delete(f"{showcase_url(made)}/images/{first}", headers=headers)
    with runtime.db.transaction() as session:
        assert upkeep.forget_object(session, key) is False
    assert runtime.storage.exists(key)
    client.delete(f"{showcase_url(made)}/images/{second}", headers=headers)
    with runtime.db.transaction() as session:
        assert upkeep.forget_object(session, key) is True
    assert not runtime.storage.exists(key)


def test_the_catalog_adds_and_dates_pictures_through_its_showcase_hook(runtime, owner):
    """What the demo uses, without importing the images domain: a post of pictures, then its history's dates."""
    draft = create_model(runtime, owner, with_post=False)
    version_id = draft.version_ids[0]
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with runtime.db.transaction() as session:
        pictures = [NewPicture(png("red"), meta={"seed": 1}), NewPicture(png("blue"))]
        assert showcase.add_pictures(session, owner_id=owner.id, version_id=version_id, pictures=pictures) == 2
        assert showcase.gallery(session, version_id, drafts=False) == [], "not published before its version"
        assert [p.meta for p in showcase.gallery(session, version_id, drafts=True)] == [{"seed": 1}, None]
        showcase.date_posts(session, version_id, moment)
    with runtime.db.session() as session:
        post = session.scalars(select(Post).where(Post.model_version_id == version_id)).one()
        assert post.created_at == moment and post.published_at is None
        assert showcase.picture_counts(session, [version_id]) == {version_id: 2}
