"""GET /api/v1/models and /api/v1/models/{id}: Civitai's envelope and objects field for field, keyset cursors that
never skip or repeat, its paging rules, filters as real clients send them, and the site's visibility rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from modelyard.catalog import stats_aggregation, stats_buffer
from modelyard.catalog.lifecycle.effects import PUBLIC_CATALOG_TAG
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.db import utcnow
from modelyard.images.models import Post
from tests.search.test_listing_search import index_all
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user

BASE = "http://testserver"  # MODELYARD_PUBLIC_BASE_URL in the tests

# Field tables from the reference (§1.4, §1.5): name -> type(s).
MODEL_FIELDS: dict[str, Any] = {
    "id": int, "name": str, "description": (str, type(None)), "type": str, "poi": bool, "minor": bool,
    "sfwOnly": bool, "nsfw": bool, "nsfwLevel": int, "allowNoCredit": bool, "allowCommercialUse": list,
    "allowDerivatives": bool, "allowDifferentLicense": bool, "availability": str, "cosmetic": type(None),
    "supportsGeneration": bool, "stats": dict, "creator": dict, "tags": list, "modelVersions": list,
}  # fmt: skip
MODEL_STATS = ("downloadCount", "favoriteCount", "thumbsUpCount", "thumbsDownCount", "commentCount", "ratingCount",
               "rating", "tippedAmountCount")  # fmt: skip
VERSION_FIELDS: dict[str, Any] = {
    "id": int, "index": int, "name": str, "description": (str, type(None)), "baseModel": str, "baseModelType": str,
    "trainedWords": list, "nsfwLevel": int, "availability": str, "publishedAt": str, "supportsGeneration": bool,
    "earlyAccessDeadline": (str, type(None)), "paidAccess": (dict, type(None)), "stats": dict, "files": list,
    "images": list, "downloadUrl": str,
}  # fmt: skip
FILE_FIELDS: dict[str, Any] = {
    "id": int, "sizeKB": float, "name": str, "type": str, "pickleScanResult": str, "virusScanResult": str,
    "pickleScanMessage": (str, type(None)), "virusScanMessage": (str, type(None)), "scannedAt": (str, type(None)),
    "metadata": dict, "hashes": dict, "downloadUrl": str,
}  # fmt: skip
IMAGE_FIELDS: dict[str, Any] = {
    "id": int, "url": str, "nsfwLevel": int, "width": int, "height": int, "hash": (str, type(None)), "type": str,
    "metadata": dict, "minor": bool, "poi": bool, "hasMeta": bool, "hasPositivePrompt": bool, "onSite": bool,
}  # fmt: skip


def assert_fields(obj: dict[str, Any], fields: dict[str, Any], what: str) -> None:
    for name, kind in fields.items():
        assert name in obj, f"{what} lacks {name}"
        assert isinstance(obj[name], kind), f"{what}.{name} is {type(obj[name]).__name__}: {obj[name]!r}"


@pytest.fixture
def owner(runtime):
    return create_user(runtime, username="inkmaker")


def publish_posts(runtime) -> None:
    with runtime.db.transaction() as session:
        session.execute(update(Post).values(published_at=datetime(2026, 1, 1, tzinfo=UTC)))


def test_the_envelope_and_every_field(runtime, client, owner):
    made = create_model(runtime, owner, name="Ink Wash", published=True, tags=["ink", "style"])
    publish_posts(runtime)
    response = client.get("/api/v1/models")
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "public, s-maxage=300, stale-while-revalidate=150"
    assert response.headers["vary"] == "Authorization, Cookie"  # a shared cache keeps callers with keys apart
    body = response.json()
    assert set(body) == {"items", "metadata"} and body["metadata"] == {}
    (model,) = body["items"]
    assert_fields(model, MODEL_FIELDS, "model")
    assert model["id"] == made.id and model["type"] == "LORA" and sorted(model["tags"]) == ["ink", "style"]
    assert set(MODEL_STATS) <= set(model["stats"])
    assert model["creator"] == {"username": "inkmaker", "image": None}
    (version,) = model["modelVersions"]
    assert_fields(version, VERSION_FIELDS, "version")
    assert version["downloadUrl"] == f"{BASE}/api/download/models/{made.version_ids[0]}"
    (file,) = version["files"]
    assert_fields(file, FILE_FIELDS, "file")
    assert file["primary"] is True and file["downloadUrl"] == version["downloadUrl"]
    with runtime.db.session() as session:
        stored = session.get(ModelFile, made.file_ids[0])
        assert stored is not None
        assert file["sizeKB"] == stored.size_bytes / 1024  # not rounded
        assert file["hashes"] == {row.type.value: row.hash.upper() for row in stored.hashes}
    assert set(file["hashes"]) >= {"SHA256", "AutoV2", "AutoV3", "CRC32", "BLAKE3"}
    (image,) = version["images"]
    assert_fields(image, IMAGE_FIELDS, "image")
    with runtime.db.session() as session:
        stored_version = session.get(ModelVersion, made.version_ids[0])
        assert stored_version is not None
    assert_utc_timestamp(version["publishedAt"])
    assert datetime.fromisoformat(version["publishedAt"]) == stored_version.published_at


def assert_utc_timestamp(value: str) -> None:
    """ISO 8601 in UTC written with a `Z`, as Civitai writes them (JavaScript clients parse nothing else)."""
    assert value.endswith("Z") and "+" not in value, value
    assert datetime.fromisoformat(value).utcoffset() is not None


def test_cursors_never_skip_or_repeat_even_when_the_catalog_changes(runtime, client, owner):
    ids = [create_model(runtime, owner, name=f"M{n}", published=True, with_post=False).id for n in range(7)]
    seen: list[int] = []
    url = "/api/v1/models?limit=2&sort=Newest"
    while url:
        body = client.get(url).json()
        seen.extend(item["id"] for item in body["items"])
        if len(seen) == 2:  # a model published mid-walk lands before the cursor: not repeated, nothing skipped
            create_model(runtime, owner, name="Late", published=True, with_post=False)
        cursor = body["metadata"].get("nextCursor")
        assert (cursor is None) == ("nextPage" not in body["metadata"])
        url = body["metadata"].get("nextPage", "").removeprefix(BASE)
    assert seen == sorted(ids, reverse=True)


def test_pages_and_their_limits(runtime, client, owner):
    for n in range(3):
        create_model(runtime, owner, name=f"P{n}", published=True, with_post=False)
    first = client.get("/api/v1/models?page=1&limit=2").json()
    assert first["metadata"]["currentPage"] == 1 and first["metadata"]["pageSize"] == 2
    next_page = first["metadata"]["nextPage"]
    assert next_page.startswith(f"{BASE}/api/v1/models?") and "page=2" in next_page
    second = client.get("/api/v1/models?page=2&limit=2").json()
    assert len(second["items"]) == 1 and "nextPage" not in second["metadata"]
    too_deep = client.get("/api/v1/models?page=11&limit=100")
    assert too_deep.status_code == 429
    assert too_deep.json() == {"error": "You've requested too many pages, please use cursors instead"}


def test_a_search_can_be_paged_by_number(runtime, client, owner):
    """Published clients send `page=1&query=...` (Civitai answers 400, so they could not search at all)."""
    maker = create_user(runtime, username="quill")  # a name "ink" does not start
    ids = [create_model(runtime, maker, name=f"Ink {n}", published=True, with_post=False).id for n in range(3)]
    create_model(runtime, maker, name="Watercolor", published=True, with_post=False)
    index_all(runtime)  # a search goes through the search indexes

    def page(number: int) -> dict[str, Any]:
        response = client.get(f"/api/v1/models?page={number}&limit=2&query=ink&sort=Newest")
        assert response.status_code == 200, response.text
        return response.json()

    first, second = page(1), page(2)
    assert [item["id"] for item in first["items"]] == ids[:0:-1]
    assert first["metadata"]["currentPage"] == 1 and first["metadata"]["pageSize"] == 2
    assert "page=2" in first["metadata"]["nextPage"] and "query=ink" in first["metadata"]["nextPage"]
    assert [item["id"] for item in second["items"]] == [ids[0]] and "nextPage" not in second["metadata"]
    assert page(3)["items"] == []


def test_a_period_counts_back_from_the_time_of_the_request(runtime, client, owner):
    recent = create_model(runtime, owner, name="Recent", published=True, with_post=False)
    older = create_model(runtime, owner, name="Older", published=True, with_post=False)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == older.id).values(published_at=utcnow() - timedelta(days=10)))

    def ids(period: str) -> list[int]:
        response = client.get(f"/api/v1/models?period={period}&sort=Newest")
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids("Week") == [recent.id]
    assert ids("Month") == ids("AllTime") == [recent.id, older.id]
    # The same question again, answered from the database (not the response cache) with its statement reused.
    runtime.cache.invalidate(PUBLIC_CATALOG_TAG)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == older.id).values(published_at=utcnow() - timedelta(days=3)))
    assert ids("Week") == [recent.id, older.id]


@pytest.mark.parametrize(
    "cursor",
    ["99999999999|1", "5|99999999999", "-99999999999|1", "1|nope", "|", "2024-01-01T00:00:00|1"],
)
def test_a_cursor_out_of_range_is_a_400(client, cursor):
    response = client.get("/api/v1/models", params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert "cursor" in response.json()["error"]


def test_a_date_cursor_written_without_a_zone_reads_as_utc(runtime, client, owner):
    made = create_model(runtime, owner, name="Dated", published=True, with_post=False)
    response = client.get("/api/v1/models", params={"sort": "Newest", "cursor": f"2999-01-01T00:00:00|{made.id + 1}"})
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [made.id]


@pytest.mark.parametrize(
    ("query", "error"),
    [("limit=101", "limit"), ("limit=abc", "limit"), ("types=Banana", "types"), ("sort=Best", "sort"),
     ("nsfw=maybe", "nsfw"), ("cursor=nonsense", "cursor"), ("ids=1,x", "ids"), ("period=Decade", "period")],
)  # fmt: skip
def test_bad_parameters_are_named_in_a_400(client, query, error):
    response = client.get(f"/api/v1/models?{query}")
    assert response.status_code == 400, response.text
    assert error in response.json()["error"]


def test_filters_as_clients_send_them(runtime, client, owner):
    lora = create_model(runtime, owner, name="Ink LoRA", published=True, with_post=False, tags=["ink"])
    from modelyard.catalog.enums import ModelType

    checkpoint = create_model(runtime, owner, name="Real Ckpt", type=ModelType.Checkpoint, published=True)
    other = create_user(runtime, username="someone")
    theirs = create_model(runtime, other, name="Their VAE", type=ModelType.VAE, published=True, with_post=False)
    index_all(runtime)  # `query` goes through the search indexes

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/v1/models?{query}")
        assert response.status_code == 200, response.text
        return sorted(item["id"] for item in response.json()["items"])

    assert ids("types=LORA&types=Checkpoint") == ids("types=LORA,Checkpoint") == sorted([lora.id, checkpoint.id])
    assert ids("username=SOMEONE") == [theirs.id]
    assert ids("tag=ink") == [lora.id]
    assert ids(f"ids={lora.id},{theirs.id}") == sorted([lora.id, theirs.id])
    assert ids("query=ckpt") == [checkpoint.id]
    assert ids("baseModels=SD 1.5") == sorted([lora.id, checkpoint.id, theirs.id])
    assert ids("baseModels=SDXL 1.0") == []
    assert ids("allowNoCredit=True") == ids("allowNoCredit=true") == sorted([lora.id, checkpoint.id, theirs.id])
    assert ids("allowCommercialUse=Sell") == sorted([lora.id, checkpoint.id, theirs.id])
    assert ids("allowCommercialUse=Rent") == []
    assert client.get("/api/v1/models?favorites=true").status_code == 401


def test_visibility_and_browsing_levels(runtime, client, owner):
    public = create_model(runtime, owner, name="Public", published=True, with_post=False)
    draft = create_model(runtime, owner, name="Draft", with_post=False)
    adult = create_model(runtime, owner, name="Adult", published=True, with_post=False)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == adult.id).values(nsfw=True))

    def ids(query: str = "", headers: dict[str, str] | None = None) -> list[int]:
        return sorted(item["id"] for item in client.get(f"/api/v1/models?{query}", headers=headers).json()["items"])

    assert ids() == [public.id]  # no nsfw parameter: PG only, as Civitai
    assert ids("nsfw=true") == sorted([public.id, adult.id])
    assert ids("browsingLevel=4") == [adult.id]
    assert client.get(f"/api/v1/models/{draft.id}").json() == {"error": f"No model with id {draft.id}"}
    mine = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    assert client.get(f"/api/v1/models/{draft.id}", headers=mine).status_code == 200  # its owner sees it
    assert client.get(f"/api/v1/models/{draft.id}", headers=mine).headers["cache-control"] == "private, no-store"
    assert draft.id not in ids("nsfw=true")


def test_one_model_by_id(runtime, client, owner):
    made = create_model(runtime, owner, name="Ink", published=True, versions=2)
    publish_posts(runtime)
    body = client.get(f"/api/v1/models/{made.id}").json()
    assert_fields(body, MODEL_FIELDS, "model")
    assert [v["id"] for v in body["modelVersions"]] == made.version_ids[::-1]  # newest first
    assert client.get("/api/v1/models/999999").json() == {"error": "No model with id 999999"}
    assert client.get("/api/v1/models/abc").status_code == 400
    assert client.get("/api/v1/models/0").status_code == 400


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer None"}, {"Authorization": "Bearer "}, {"Authorization": "Bearer not-a-real-key"}],
)
def test_what_real_clients_send_for_no_key_reads_as_anonymous(runtime, client, owner, headers):
    create_model(runtime, owner, published=True, with_post=False)
    response = client.get("/api/v1/models", headers=headers)
    assert response.status_code == 200 and len(response.json()["items"]) == 1
    assert client.get("/api/v1/models?token=").status_code == 200


def test_downloads_are_counted_once_a_day_and_sorted_by(runtime, client, owner):
    quiet = create_model(runtime, owner, name="Quiet", published=True, with_post=False)
    popular = create_model(runtime, owner, name="Popular", published=True, with_post=False)
    for _ in range(2):  # the same downloader twice in a day counts once
        assert client.get(f"/api/download/models/{popular.version_ids[0]}", follow_redirects=False).status_code == 307
    stats_buffer.buffered(runtime).flush()  # recorded by the request, counted by the job (catalog.stats)
    with runtime.db.transaction() as session:
        stats_aggregation.aggregate(session)
    body = client.get(f"/api/v1/models/{popular.id}").json()
    assert body["stats"]["downloadCount"] == 1 and body["modelVersions"][0]["stats"]["downloadCount"] == 1
    ranked = client.get("/api/v1/models?sort=Most Downloaded").json()["items"]
    assert [item["id"] for item in ranked] == [popular.id, quiet.id]


@pytest.mark.parametrize("query", ["tag=a%00b", "username=%00", "baseModels=SD%001.5", "query=x%00"])
def test_a_nul_character_is_a_400_not_a_database_error(client, query):
    response = client.get(f"/api/v1/models?{query}")
    assert response.status_code == 400 and "NUL" in response.json()["error"]
