"""The visibility matrix: every state a model, version or file can be in that hides something from someone, x every
kind of viewer, x every way in, through the real app. What each viewer should get is written once, as a table
(`EXPECTED`); the cells are generated from it. A new state joins as a row of `EXPECTED` (and a line in `_shape`),
a new viewer as an entry of `VIEWERS`, a new way in as a function in `WAYS` naming its column.

Each cell asks one question: does this way in show this viewer the subject (the state's version, or its model for
the ways that list models)? The world is built once for the module and only read by the cells (which is why this
module keeps its state between tests and wipes it at the end). The cells run viewer after viewer on the same
URLs, so the v1 API's caches are exercised as they are in production: a cached page given to the wrong viewer
fails the cell that received it. `test_cached_pages_*` check both orders explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from modelyard.accounts.models import Role, User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.enums import Availability, HashType, ModelStatus, ModelType, ScanResult
from modelyard.catalog.lifecycle.effects import PUBLIC_CATALOG_TAG
from modelyard.catalog.models import Model, ModelFile, ModelFileHash, ModelVersion
from modelyard.core.csrf import CSRF_COOKIE
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from modelyard.images.models import Image, Post
from modelyard.moderation.models import ReportReason
from modelyard.moderation.reports import file_report
from tests.conftest import wipe
from tests.images.test_showcase import png
from tests.search.test_listing_search import index_all
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_api_key, create_user, log_in

# --- who looks ----------------------------------------------------------------------------------------------------

# viewer: (whose credentials, how presented). A banned owner's own models are the banned world's copies.
VIEWERS: dict[str, tuple[str | None, str | None]] = {
    "anonymous": (None, None),
    "other_session": ("other", "session"),
    "other_full": ("other", "full"),
    "owner_session": ("owner", "session"),
    "owner_full": ("owner", "full"),
    "owner_read": ("owner", "read"),  # a downloader's ModelsRead key
    "mod_session": ("mod", "session"),
    "mod_full": ("mod", "full"),
    "mod_read": ("mod", "read"),  # no staff powers through a narrow key
    "banned_owner_session": ("banned", "session"),
    "banned_owner_full": ("banned", "full"),
}
ALL = frozenset(VIEWERS)
OWNER = frozenset({"owner_session", "owner_full", "owner_read"})
STAFF = frozenset({"mod_session", "mod_full"})
OWNER_STAFF = OWNER | STAFF
NOBODY: frozenset[str] = frozenset()

# --- what each viewer gets --------------------------------------------------------------------------------------

COLUMNS = ("address", "listed", "browse", "mine", "hash", "download")
# address: the subject by its id (pages, site API, v1 API, images of the version); listed: in the v1 model lists
# (with and without a search `query`); browse: its model on the models page, the site's list and its tag's page,
# and found by a search of its name there and in the site's search API; mine: its model in the owner's lists;
# hash: found by its file's hash; download: the download endpoint and the signed URL it redirects to.
# A banned owner presents refused credentials: they get what an anonymous visitor gets, and no list of their own.
# fmt: off
EXPECTED: dict[str, tuple[frozenset[str], ...]] = {
    # state                           address      listed        browse        mine    hash    download
    "public":                        (ALL,         ALL,          ALL,          OWNER,  ALL,    ALL),
    "draft":                         (OWNER_STAFF, NOBODY,       NOBODY,       OWNER,  NOBODY, OWNER_STAFF),
    "scheduled":                     (OWNER_STAFF, NOBODY,       NOBODY,       OWNER,  NOBODY, OWNER_STAFF),
    "unpublished":                   (OWNER_STAFF, NOBODY,       NOBODY,       OWNER,  NOBODY, OWNER_STAFF),
    "unpublished_violation":         (OWNER_STAFF, NOBODY,       NOBODY,       OWNER,  NOBODY, OWNER_STAFF),
    "private":                       (OWNER_STAFF, OWNER_STAFF,  OWNER_STAFF,  OWNER,  NOBODY, OWNER_STAFF),
    "unsearchable":                  (ALL,         OWNER,        OWNER,        OWNER,  ALL,    ALL),
    "deleted":                       (STAFF,       NOBODY,       NOBODY,       NOBODY, NOBODY, STAFF),
    # the state's version inside a published model whose other version is public
    "version_draft":                 (OWNER_STAFF, OWNER_STAFF,  ALL,          OWNER,  NOBODY, OWNER_STAFF),
    "version_scheduled":             (OWNER_STAFF, OWNER_STAFF,  ALL,          OWNER,  NOBODY, OWNER_STAFF),
    "version_unpublished":           (OWNER_STAFF, OWNER_STAFF,  ALL,          OWNER,  NOBODY, OWNER_STAFF),
    "version_unpublished_violation": (OWNER_STAFF, OWNER_STAFF,  ALL,          OWNER,  NOBODY, OWNER_STAFF),
    "version_private":               (OWNER_STAFF, OWNER_STAFF,  ALL,          OWNER,  NOBODY, OWNER_STAFF),
    "version_deleted":               (STAFF,       STAFF,        ALL,          OWNER,  NOBODY, STAFF),
    # published and visible, but not everyone downloads: a file the scanner found dangerous (nobody gets it),
    # a model depicting a real person, a version in early access
    "danger_file":                   (ALL,         ALL,          ALL,          OWNER,  ALL,    NOBODY),
    "poi":                           (ALL,         ALL,          ALL,          OWNER,  ALL,    OWNER_STAFF),
    "early_access":                  (ALL,         ALL,          ALL,          OWNER,  ALL,    OWNER_STAFF),
}
# fmt: on
assert all(len(row) == len(COLUMNS) for row in EXPECTED.values())
# Columns that follow from the table: a model's download statistics show what its address shows, to its owner and
# moderators alone.
# A creator's profile lists what the models page lists, except that a banned creator has no profile at all.
BANNED = frozenset({"banned_owner_session", "banned_owner_full"})
DERIVED: dict[str, Callable[[tuple[frozenset[str], ...]], frozenset[str]]] = {
    "stats": lambda row: row[COLUMNS.index("address")] & OWNER_STAFF,
    "profile": lambda row: row[COLUMNS.index("browse")] - BANNED,
    # A version's images have a stable address while anyone may see the version, and it answers anyone.
    "media": lambda row: ALL if "anonymous" in row[COLUMNS.index("address")] else NOBODY,
    # Its showcase is arranged by its owner alone, with credentials that may write media.
    "arrange": lambda row: row[COLUMNS.index("address")] & {"owner_session", "owner_full"},
}

# One model type per state: the models page, filtered by type, then lists that state's models alone.
_TYPES = [t for t in ModelType if t not in (ModelType.Checkpoint, ModelType.Workflows, ModelType.ComfyWorkflows)]
STATE_TYPES = dict(zip(EXPECTED, _TYPES, strict=False))
assert len(STATE_TYPES) == len(EXPECTED)


_WEBP = png()  # what the stable address serves is not looked at: any picture's bytes do

# --- the world --------------------------------------------------------------------------------------------------


@dataclass
class Subject:
    state: str
    model_id: int
    version_id: int
    sha256: str
    name: str
    type: str
    creator: str  # the owner's username
    image_key: str = ""  # the storage key of the subject version's showcase image


@dataclass
class World:
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)  # viewer -> request headers
    subjects: dict[tuple[str, str], Subject] = field(default_factory=dict)  # (state, "owner" | "banned")
    report_id: int = 0  # a case "other" reported (the public model): `test_report_status`

    def subject(self, state: str, viewer: str) -> Subject:
        return self.subjects[(state, "banned" if VIEWERS[viewer][0] == "banned" else "owner")]


def _shape(runtime: Runtime, owner: UserFixture, state: str, copy: str) -> Subject:
    """The state's model, built through the services and then put in the state directly (the visibility rule
    reads statuses, whichever way they were reached). Files are scanned clean, posts published, unless the
    state says otherwise."""
    name = f"Matrix {state} {copy}"
    version_state = state.startswith("version_")
    made = create_model(
        runtime,
        owner,
        name=name,
        type=STATE_TYPES[state],
        versions=2 if version_state else 1,
        published=state not in ("draft", "scheduled"),
    )
    version_id = made.version_ids[0]
    for post_id in made.post_ids:  # the fixture's images get bytes, for their stable addresses
        runtime.storage.save(f"images/{post_id}.webp", _WEBP, content_type="image/webp")
    now = utcnow()
    with runtime.db.transaction() as session:
        for file_id in made.file_ids:
            session.execute(
                update(ModelFile)
                .where(ModelFile.id == file_id)
                .values(pickle_scan_result=ScanResult.Success, virus_scan_result=ScanResult.Success)
            )
        session.execute(update(Post).where(Post.id.in_(made.post_ids)).values(published_at=now))
        session.execute(update(Image).where(Image.id.in_(made.image_ids)).values(nsfw_level=1))
        models = update(Model).where(Model.id == made.id)
        versions = update(ModelVersion).where(ModelVersion.model_id == made.id)
        subject = update(ModelVersion).where(ModelVersion.id == version_id)
        statuses = {
            "scheduled": ModelStatus.Scheduled,
            "unpublished": ModelStatus.Unpublished,
            "unpublished_violation": ModelStatus.UnpublishedViolation,
        }
        if state in statuses:
            session.execute(models.values(status=statuses[state]))
            session.execute(versions.values(status=statuses[state]))
        elif state == "deleted":  # its versions left Published: the model's status alone must hide them
            session.execute(models.values(status=ModelStatus.Deleted))
        elif state in ("private", "unsearchable"):
            session.execute(models.values(availability=Availability(state.capitalize())))
        elif state == "version_private":
            session.execute(subject.values(availability=Availability.Private))
        elif version_state:
            wanted = {
                "version_draft": ModelStatus.Draft,
                "version_scheduled": ModelStatus.Scheduled,
                "version_unpublished": ModelStatus.Unpublished,
                "version_unpublished_violation": ModelStatus.UnpublishedViolation,
                "version_deleted": ModelStatus.Deleted,
            }[state]
            session.execute(subject.values(status=wanted))
        elif state == "danger_file":
            session.execute(
                update(ModelFile).where(ModelFile.id == made.file_ids[0]).values(pickle_scan_result=ScanResult.Danger)
            )
        elif state == "poi":
            session.execute(models.values(poi=True))
        elif state == "early_access":
            session.execute(subject.values(early_access_days=7, early_access_ends_at=now + timedelta(days=7)))
        else:
            assert state in ("public", "draft"), f"no shape for state {state!r}"
        sha256 = session.scalar(
            select(ModelFileHash.hash).where(
                ModelFileHash.file_id == made.file_ids[0], ModelFileHash.type == HashType.SHA256
            )
        )
    assert sha256 is not None
    image_key = f"images/{made.post_ids[0]}.webp"
    return Subject(state, made.id, version_id, sha256, name, STATE_TYPES[state].value, owner.username, image_key)


def _browser(app: FastAPI, user: UserFixture) -> dict[str, str]:
    """A logged-in browser's headers: its session and CSRF cookies, and the CSRF token (for the POST ways in)."""
    browser = TestClient(app, raise_server_exceptions=False)
    log_in(browser, user)
    session_cookie, csrf = browser.cookies["modelyard_session"], browser.cookies[CSRF_COOKIE]
    return {"cookie": f"modelyard_session={session_cookie}; {CSRF_COOKIE}={csrf}", "x-csrf-token": csrf}


def _build(runtime: Runtime, app: FastAPI) -> World:
    accounts = {
        "owner": create_user(runtime),
        "other": create_user(runtime),
        "mod": create_user(runtime, role=Role.moderator),
        "banned": create_user(runtime),
    }
    world = World()
    for viewer, (account, how) in VIEWERS.items():
        if account is None or how is None:
            world.credentials[viewer] = {}
        elif how == "session":
            world.credentials[viewer] = _browser(app, accounts[account])
        else:
            scopes = TokenScope.full() if how == "full" else TokenScope.ModelsRead
            key = create_api_key(runtime, accounts[account], scopes=scopes)
            world.credentials[viewer] = {"Authorization": f"Bearer {key}"}
    for state in EXPECTED:
        for copy in ("owner", "banned"):
            world.subjects[(state, copy)] = _shape(runtime, accounts[copy], state, copy)
    with runtime.db.transaction() as session:
        reporter = session.get(User, accounts["other"].id)
        assert reporter is not None
        public_model = world.subjects[("public", "owner")].model_id
        world.report_id = file_report(session, reporter, "model", public_model, ReportReason.Spam, None).id
    with runtime.db.transaction() as session:  # banned after the fact, without the ban's effects on their models
        session.execute(update(User).where(User.id == accounts["banned"].id).values(banned_at=utcnow()))
    index_all(runtime)  # the states were set behind the search outbox's back
    return world


@pytest.fixture(autouse=True)
def _clean_state() -> None:
    """The cells only read: the world is built once (`world`) and wiped after the module, not after each cell."""


@pytest.fixture(scope="module")
def world(runtime: Runtime, app: FastAPI) -> Iterator[World]:
    wipe(runtime)
    try:
        yield _build(runtime, app)
    finally:
        wipe(runtime)


@pytest.fixture(scope="module")
def reader(app: FastAPI, world: World) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


# --- the ways in ------------------------------------------------------------------------------------------------


@dataclass
class Cell:
    client: TestClient
    headers: dict[str, str]
    subject: Subject

    def get(self, url: str, *, html: bool = False, follow_redirects: bool = True) -> httpx.Response:
        self.client.cookies.clear()  # each request carries its viewer's credentials alone
        headers = {**self.headers, "accept": "text/html"} if html else self.headers
        return self.client.get(url, headers=headers, follow_redirects=follow_redirects)

    def post(self, url: str, body: Any) -> httpx.Response:
        self.client.cookies.clear()
        return self.client.post(url, json=body, headers=self.headers)

    def json(self, url: str) -> Any:
        response = self.get(url)
        return response.json() if response.status_code == 200 else None

    def links_to_model(self, url: str) -> bool:
        response = self.get(url, html=True, follow_redirects=False)
        pattern = rf'href="/models/{self.subject.model_id}(?:["/?])'
        return response.status_code == 200 and re.search(pattern, response.text) is not None


def _has_version(body: Any, key: str, version_id: int) -> bool:
    return body is not None and any(version["id"] == version_id for version in body.get(key, ()))


def _in_v1_list(cell: Cell, url: str) -> bool:
    body = cell.json(url)
    items = [item for item in (body or {}).get("items", ()) if item["id"] == cell.subject.model_id]
    return any(_has_version(item, "modelVersions", cell.subject.version_id) for item in items)


def _page(cell: Cell) -> bool:
    s = cell.subject
    query = f"?modelVersionId={s.version_id}" if s.state.startswith("version_") else ""
    return cell.get(f"/models/{s.model_id}{query}", html=True).status_code == 200


def _download(cell: Cell) -> httpx.Response:
    return cell.get(f"/api/download/models/{cell.subject.version_id}", follow_redirects=False)


def _signed_url(cell: Cell) -> bool:
    response = _download(cell)
    if response.status_code != 307:
        return False
    url = response.headers["location"]
    if url.startswith("http://testserver/"):
        fetched = cell.client.get(url.removeprefix("http://testserver"))
    else:  # S3: a presigned URL of the S3 server
        fetched = httpx.get(url)
    return fetched.status_code == 200 and len(fetched.content) > 0


def _by_hash_ids(cell: Cell) -> bool:
    response = cell.post("/api/v1/model-versions/by-hash/ids", [cell.subject.sha256])
    return any(row["modelVersionId"] == cell.subject.version_id for row in response.json())


def _site_list(cell: Cell) -> bool:
    items = (cell.json(f"/api/models?types={cell.subject.type}&limit=100") or {}).get("items", ())
    return any(item["id"] == cell.subject.model_id for item in items)


def _searched(cell: Cell, path: str, **query: Any) -> bool:
    """Found by its name: the search finds the hits, the listing's SQL decides what the viewer gets."""
    found = cell.json(f"{path}?{urlencode({**query, 'limit': 100})}") or {}
    return any(item["id"] == cell.subject.model_id for item in found.get("items", ()))


def _named(cell: Cell) -> str:
    return urlencode({"q": cell.subject.name, "type": cell.subject.type})


def _site_model(cell: Cell) -> bool:
    return _has_version(cell.json(f"/api/models/{cell.subject.model_id}"), "versions", cell.subject.version_id)


def _v1_model(cell: Cell) -> bool:
    return _has_version(cell.json(f"/api/v1/models/{cell.subject.model_id}"), "modelVersions", cell.subject.version_id)


def _found(cell: Cell, url: str) -> bool:
    return cell.get(url).status_code == 200


def _images(cell: Cell) -> bool:
    return bool((cell.json(f"/api/v1/images?modelVersionId={cell.subject.version_id}") or {}).get("items"))


def _me_models(cell: Cell) -> bool:
    items = (cell.json("/api/me/models") or {}).get("items", ())
    return any(item["id"] == cell.subject.model_id for item in items)


def _by_hash_get(cell: Cell) -> bool:
    found = cell.json(f"/api/v1/model-versions/by-hash/{cell.subject.sha256}") or {}
    return found.get("id") == cell.subject.version_id


def _by_hash_post(cell: Cell) -> bool:
    found = cell.post("/api/v1/model-versions/by-hash", [cell.subject.sha256]).json()
    return any(version["id"] == cell.subject.version_id for version in found)


def _stats_page(cell: Cell) -> bool:
    response = cell.get(f"/models/{cell.subject.model_id}/stats", html=True, follow_redirects=False)
    return response.status_code == 200 and f'id="version-{cell.subject.version_id}"' in response.text


def _stats_csv(cell: Cell) -> bool:
    response = cell.get(f"/models/{cell.subject.model_id}/stats.csv", follow_redirects=False)
    return response.status_code == 200 and f",{cell.subject.version_id}," in response.text


def _showcase_page(cell: Cell) -> bool:
    """The wizard's image step (a visitor is sent to log in: not followed)."""
    page = cell.get(f"/model-versions/{cell.subject.version_id}/images", html=True, follow_redirects=False)
    return page.status_code == 200


# way: (its column in EXPECTED or DERIVED, whether it shows the viewer the subject)
WAYS: dict[str, tuple[str, Callable[[Cell], bool]]] = {
    "page": ("address", _page),
    "site_model": ("address", _site_model),
    "site_version": ("address", lambda c: _found(c, f"/api/model-versions/{c.subject.version_id}")),
    "v1_model": ("address", _v1_model),
    "v1_version": ("address", lambda c: _found(c, f"/api/v1/model-versions/{c.subject.version_id}")),
    "mini": ("address", lambda c: _found(c, f"/api/v1/model-versions/mini/{c.subject.version_id}")),
    "images": ("address", _images),
    "v1_list": ("listed", lambda c: _in_v1_list(c, "/api/v1/models?limit=100")),
    "v1_search": ("listed", lambda c: _in_v1_list(c, f"/api/v1/models?limit=100&query={c.subject.name}")),
    "browse": ("browse", lambda c: c.links_to_model(f"/models?type={c.subject.type}")),
    "browse_search": ("browse", lambda c: c.links_to_model(f"/models?{_named(c)}")),
    "site_list": ("browse", _site_list),
    "site_list_search": ("browse", lambda c: _searched(c, "/api/models", query=c.subject.name, types=c.subject.type)),
    "site_search": ("browse", lambda c: _searched(c, "/api/search", q=c.subject.name, type=c.subject.type)),
    "tag": ("browse", lambda c: c.links_to_model(f"/tag/test?type={c.subject.type}")),
    "profile": ("profile", lambda c: c.links_to_model(f"/user/{c.subject.creator}?type={c.subject.type}")),
    "me_models": ("mine", _me_models),
    "dashboard": ("mine", lambda c: c.links_to_model("/my/models")),
    "my_stats": ("mine", lambda c: c.links_to_model("/my/stats")),
    "stats_page": ("stats", _stats_page),
    "stats_csv": ("stats", _stats_csv),
    "by_hash_get": ("hash", _by_hash_get),
    "by_hash_post": ("hash", _by_hash_post),
    "by_hash_ids": ("hash", _by_hash_ids),
    "download": ("download", lambda c: _download(c).status_code == 307),
    "signed_url": ("download", _signed_url),
    "media": ("media", lambda c: _found(c, f"/media/{c.subject.image_key}")),
    "showcase_api": ("arrange", lambda c: _found(c, f"/api/model-versions/{c.subject.version_id}/showcase")),
    "showcase_page": ("arrange", _showcase_page),
}
assert {column for column, _ in WAYS.values()} == set(COLUMNS) | set(DERIVED)


def _expected(state: str, way: str, viewer: str) -> bool:
    column, row = WAYS[way][0], EXPECTED[state]
    return viewer in (DERIVED[column](row) if column in DERIVED else row[COLUMNS.index(column)])


CELLS = [(state, viewer, way) for state in EXPECTED for way in WAYS for viewer in VIEWERS]


@pytest.mark.parametrize(("state", "viewer", "way"), CELLS)
def test_cell(world: World, reader: TestClient, state: str, viewer: str, way: str) -> None:
    cell = Cell(reader, world.credentials[viewer], world.subject(state, viewer))
    shown = WAYS[way][1](cell)
    assert shown is _expected(state, way, viewer), f"{way} {'shows' if shown else 'hides'} {state} to {viewer}"


# --- reports: a reporter reads their own report's status; nobody else does but moderators ---------------------

REPORT_READERS = frozenset({"other_session", "other_full", "mod_session", "mod_full"})


@pytest.mark.parametrize("viewer", VIEWERS)
def test_report_status(world: World, reader: TestClient, viewer: str) -> None:
    cell = Cell(reader, world.credentials[viewer], world.subject("public", viewer))
    mine = cell.get(f"/api/reports/{world.report_id}")
    as_moderator = cell.get(f"/api/moderation/cases/{world.report_id}")
    listed = cell.json("/api/reports/mine") or {}
    shown = mine.status_code == 200 or as_moderator.status_code == 200
    assert shown is (viewer in REPORT_READERS), viewer
    assert mine.status_code in (200, 401, 403, 404) and as_moderator.status_code in (200, 401, 403, 404)
    in_mine = any(item["id"] == world.report_id for item in listed.get("items", ()))
    assert in_mine is (viewer in {"other_session", "other_full"}), viewer


# --- the caches, in both orders ---------------------------------------------------------------------------------

PRIVILEGED = ("owner_full", "mod_full", "owner_session")
CACHED_WAYS = ("v1_list", "v1_search", "by_hash_get")


@pytest.mark.parametrize("way", CACHED_WAYS)
@pytest.mark.parametrize("first", PRIVILEGED)
def test_cached_pages_a_privileged_caller_built_are_not_served_to_anyone(
    runtime: Runtime, world: World, reader: TestClient, way: str, first: str
) -> None:
    for state in ("private", "unsearchable", "version_draft", "public"):
        runtime.cache.local.clear()
        runtime.cache.invalidate(PUBLIC_CATALOG_TAG)
        for viewer in (first, "anonymous", "other_full", "mod_read", first):
            cell = Cell(reader, world.credentials[viewer], world.subject(state, viewer))
            assert WAYS[way][1](cell) is _expected(state, way, viewer), (way, state, first, viewer)


@pytest.mark.parametrize("way", CACHED_WAYS)
def test_cached_pages_anyone_gets_are_not_served_to_a_privileged_caller(
    runtime: Runtime, world: World, reader: TestClient, way: str
) -> None:
    for state in ("private", "unsearchable", "version_draft", "public"):
        runtime.cache.local.clear()
        runtime.cache.invalidate(PUBLIC_CATALOG_TAG)
        for viewer in ("anonymous", "other_full", "mod_read", *PRIVILEGED, "anonymous"):
            cell = Cell(reader, world.credentials[viewer], world.subject(state, viewer))
            assert WAYS[way][1](cell) is _expected(state, way, viewer), (way, state, viewer)
