"""The demo catalog (`modelyard demo`): what it loads, that its files and images are real, who sees what, and that
it only ever loads into an empty database."""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from modelyard.accounts.models import Role, User
from modelyard.accounts.service import change_password
from modelyard.catalog.demo import ADMIN, MODELS, demo_credentials, demo_password, load_demo
from modelyard.catalog.demo_art import ART, draw_preview
from modelyard.catalog.enums import HashType, ModelStatus
from modelyard.catalog.files.safetensors import read_header
from modelyard.catalog.models import Model, ModelFile, ModelFileHash, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict
from modelyard.core.runtime import Runtime
from modelyard.images.models import Image, Post
from tests.support.demo import load_demo_catalog
from tests.support.factories import UserFixture, log_in

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelyard", *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_demo_has_every_state_and_real_files(runtime: Runtime) -> None:
    catalog = load_demo_catalog(runtime)
    assert len(catalog.models) == len(MODELS) >= 10
    assert len(catalog.named(ModelStatus.Published)) >= 6
    for status in (ModelStatus.Draft, ModelStatus.Scheduled, ModelStatus.Unpublished):
        assert len(catalog.named(status)) == 1, status
    with runtime.db.session() as session:
        types = set(session.scalars(select(Model.type)))
        assert len(types) >= 5
        assert len(set(session.scalars(select(ModelVersion.base_model)))) >= 4
        files = session.scalars(select(ModelFile)).all()
        assert len(files) >= len(catalog.summary.versions)
        for file in files:
            data = runtime.storage.read_bytes(file.storage_key)
            header = read_header(data)
            assert any(not name.startswith("__") for name in header), file.name
            sha256 = session.get(ModelFileHash, (file.id, HashType.SHA256))
            assert sha256 is not None and sha256.hash == hashlib.sha256(data).hexdigest().upper()
            assert file.size_bytes == len(data)
        versions_without_files = session.scalar(
            select(func.count()).select_from(ModelVersion).where(~ModelVersion.files.any())
        )
        assert versions_without_files == 0
        images = session.scalars(select(Image)).all()
        assert len(images) >= len(catalog.summary.versions)
        for image in images:
            with PILImage.open(io.BytesIO(runtime.storage.read_bytes(image.storage_key))) as picture:
                assert picture.format == "WEBP"
                assert picture.size == (image.width, image.height)
                assert max(picture.size) >= 512
            assert image.meta and {"prompt", "sampler", "steps", "seed"} <= image.meta.keys()
        assert len({image.storage_key for image in images}) == len(images)  # every picture differs


def test_demo_states_read_through_the_api(runtime: Runtime, client) -> None:
    catalog = load_demo_catalog(runtime)
    for name in catalog.named(ModelStatus.Published):
        response = client.get(f"/api/models/{catalog.model(name)}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "Published" and body["published_at"] and body["tags"]
        assert len(body["versions"]) == len(catalog.spec(name).versions)
        assert all(version["files"] and version["files"][0]["hashes"]["SHA256"] for version in body["versions"])
    for status in (ModelStatus.Draft, ModelStatus.Scheduled, ModelStatus.Unpublished):
        assert client.get(f"/api/models/{catalog.one(status)}").status_code == 404, status
    draft = catalog.named(ModelStatus.Draft)[0]
    log_in(client, catalog.owner_of(draft))
    assert client.get(f"/api/models/{catalog.model(draft)}").json()["status"] == "Draft"
    with runtime.db.session() as session:
        scheduled = session.get(Model, catalog.one(ModelStatus.Scheduled))
        assert scheduled is not None and scheduled.scheduled_for is not None
        assert timedelta(hours=23) < scheduled.scheduled_for - utcnow() <= timedelta(days=1)
        unpublished = session.get(Model, catalog.one(ModelStatus.Unpublished))
        assert unpublished is not None and unpublished.meta.get("unpublishedReason")
        published_ids = [catalog.model(name) for name in catalog.named(ModelStatus.Published)]
        hidden_posts = session.scalar(
            select(func.count())
            .select_from(Post)
            .join(ModelVersion, ModelVersion.id == Post.model_version_id)
            .where(ModelVersion.model_id.in_(published_ids), Post.published_at.is_(None))
        )
        assert hidden_posts == 0
        # Backdated: the newest-first list has a real order, not one shared timestamp.
        dates = session.scalars(select(Model.published_at).where(Model.id.in_(published_ids))).all()
        assert len(set(dates)) == len(dates)


def test_demo_loads_only_into_an_empty_database(runtime: Runtime) -> None:
    first = run_cli("demo")
    assert first.returncode == 0, first.stderr
    assert "Their password: " in first.stdout
    assert "demo-admin (administrator)" in first.stdout and "demo-mod (moderator)" in first.stdout
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Model)) == len(MODELS)

    again = run_cli("demo")
    assert again.returncode == 1
    assert "loads only into an empty database" in again.stderr

    quiet = run_cli("demo", "--if-empty")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "" and "Error" not in quiet.stderr
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Model)) == len(MODELS)
    with pytest.raises(Conflict):
        load_demo(runtime)


def test_previews_are_seeded() -> None:
    for art in ART:
        assert draw_preview(art, random.Random(7), (128, 128)) == draw_preview(art, random.Random(7), (128, 128)), art
        assert draw_preview(art, random.Random(7), (128, 128)) != draw_preview(art, random.Random(8), (128, 128)), art


def counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.db.session() as session:
        return (
            session.scalar(select(func.count()).select_from(User)) or 0,
            session.scalar(select(func.count()).select_from(Model)) or 0,
            session.scalar(select(func.count()).select_from(ModelFile)) or 0,
        )


def test_the_demo_has_an_administrator_who_can_log_in(runtime: Runtime, client) -> None:
    load_demo(runtime)
    with runtime.db.session() as session:
        admin = session.scalar(select(User).where(User.username == ADMIN))
        assert admin is not None and admin.role == Role.admin
        email = admin.email
    log_in(client, UserFixture(0, ADMIN, email, demo_password(runtime.settings)))
    assert client.get("/admin/jobs", headers={"Accept": "text/html"}).status_code == 200


def test_demo_credentials_are_printed_again_and_change_nothing(runtime: Runtime) -> None:
    empty = run_cli("demo", "--credentials")
    assert empty.returncode == 1 and "holds no demo accounts" in empty.stderr
    loaded = run_cli("demo")
    assert loaded.returncode == 0, loaded.stderr
    password = re.search(r"Their password: (\S+)", loaded.stdout)
    assert password is not None and password.group(1) == demo_password(runtime.settings)
    before = counts(runtime)
    again = run_cli("demo", "--credentials")
    assert again.returncode == 0, again.stderr
    assert f"Their password: {password.group(1)}\n" in again.stdout
    assert "demo-admin (administrator)" in again.stdout and "Log in at http://testserver/login" in again.stdout
    assert counts(runtime) == before


def test_credentials_say_so_once_the_administrator_changed_the_password(runtime: Runtime) -> None:
    load_demo(runtime)
    with runtime.db.transaction() as session:
        admin = session.scalar(select(User).where(User.username == ADMIN))
        assert admin is not None
        new = "a brand new passphrase"
        change_password(session, admin, current=demo_password(runtime.settings), new=new, keep_session_id=None)
    found = demo_credentials(runtime)
    assert found is not None and found.password is None
    assert "changed since the demo was loaded" in found.describe()
    assert demo_password(runtime.settings) not in found.describe()
