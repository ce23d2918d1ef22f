"""Downloads as Civitai serves them: the order of checks, the status codes and bodies, the file choice, the file
names, and counting."""

from __future__ import annotations

import io
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update

from modelyard.accounts.models import Role, User
from modelyard.catalog import stats_buffer
from modelyard.catalog.enums import BaseModelType, ModelModifier, ModelType, UsageControl
from modelyard.catalog.files import service as files
from modelyard.catalog.files.downloads import download_filename, filenamize
from modelyard.catalog.files.safetensors import tiny_lora
from modelyard.catalog.files.scanning import scan_file
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.catalog.stats import StatEvent
from modelyard.core.db import utcnow
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def owner(runtime):
    return create_user(runtime)


def url(made) -> str:
    return f"/api/download/models/{made.version_ids[0]}"


def set_version(runtime, version_id: int, **values) -> None:
    with runtime.db.transaction() as session:
        session.execute(update(ModelVersion).where(ModelVersion.id == version_id).values(**values))


def stored_bytes(runtime, file_id: int) -> bytes:
    with runtime.db.session() as session:
        stored = session.get(ModelFile, file_id)
        assert stored is not None
        return runtime.storage.read_bytes(stored.storage_key)


def follow(client, response, headers=None):
    """Fetch where a download redirects: this server's signed /files URL, or the bucket's presigned one."""
    assert response.status_code == 307, response.text
    location = urlsplit(response.headers["location"])
    if location.netloc in ("", "testserver"):
        return client.get(f"{location.path}?{location.query}", headers=headers)
    return httpx.get(response.headers["location"], headers=headers)


def test_a_published_file_redirects_to_a_signed_url_of_its_bytes(runtime, client, owner):
    made = create_model(runtime, owner, published=True)
    response = client.get(url(made), follow_redirects=False)
    assert response.headers["cache-control"] == "no-store"
    served = follow(client, response)
    assert served.status_code == 200
    assert served.content == stored_bytes(runtime, made.file_ids[0])
    assert 'filename="Test_model_v1.safetensors"' in served.headers["content-disposition"]  # a LoRA keeps its name
    if urlsplit(response.headers["location"]).netloc in ("", "testserver"):
        # Served by this server (the embedded default): resumable. A bucket's presigned URL is the bucket's.
        ranged = follow(client, response, headers={"Range": "bytes=0-7"})
        assert ranged.status_code == 206 and ranged.content == served.content[:8]


@pytest.mark.parametrize("state", ["draft", "deleted", "missing", "poi"])
def test_what_you_may_not_see_is_not_found(runtime, client, owner, state):
    made = create_model(runtime, owner, published=state != "draft")
    with runtime.db.transaction() as session:
        if state == "deleted":
            session.execute(update(Model).where(Model.id == made.id).values(status="Deleted"))
        if state == "poi":
            session.execute(update(Model).where(Model.id == made.id).values(poi=True))
    path = "/api/download/models/999999" if state == "missing" else url(made)
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 404 and response.json() == {"error": "File not found"}
    if state in ("draft", "poi"):
        key = create_api_key(runtime, owner)
        assert client.get(f"{path}?token={key}", follow_redirects=False).status_code == 307  # the owner may


def test_archived_models_are_gone(runtime, client, owner):
    made = create_model(runtime, owner, published=True)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == made.id).values(mode=ModelModifier.Archived))
    response = client.get(url(made), follow_redirects=False)
    assert response.status_code == 410 and "archived" in response.json()["error"]


def test_models_taken_down_are_not_downloaded_but_by_moderators(runtime, client, owner):
    made = create_model(runtime, owner, published=True)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == made.id).values(mode=ModelModifier.TakenDown))
    anonymous = client.get(url(made), follow_redirects=False)
    assert anonymous.status_code == 410 and anonymous.json() == {
        "error": "Model taken down, not available for download"
    }
    owner_key = create_api_key(runtime, owner)
    assert client.get(f"{url(made)}?token={owner_key}", follow_redirects=False).status_code == 410
    moderator_key = create_api_key(runtime, create_user(runtime, role=Role.moderator))
    granted = client.get(f"{url(made)}?token={moderator_key}", follow_redirects=False)
    assert follow(client, granted).content == stored_bytes(runtime, made.file_ids[0])


def test_creators_can_turn_downloads_off(runtime, client, owner):
    made = create_model(runtime, owner, published=True)
    set_version(runtime, made.version_ids[0], usage_control=UsageControl.Generation)
    response = client.get(url(made), follow_redirects=False)
    assert response.status_code == 401 and "disabled downloads" in response.json()["message"]


def test_log_in_required(runtime, client, owner):
    made = create_model(runtime, owner, published=True)
    set_version(runtime, made.version_ids[0], require_auth=True)
    api = client.get(url(made), follow_redirects=False)
    assert api.status_code == 401 and api.json()["error"] == "Unauthorized"
    browser = client.get(url(made), headers=HTML, follow_redirects=False)
    assert browser.status_code == 302 and browser.headers["location"].startswith("/login?reason=download-auth")
    downloader = create_user(runtime)
    key = create_api_key(runtime, downloader)
    assert client.get(f"{url(made)}?token={key}", follow_redirects=False).status_code == 307
    bearer = {"Authorization": f"Bearer {key}"}
    assert client.get(url(made), headers=bearer, follow_redirects=False).status_code == 307


def test_early_access(runtime, client, owner):
    made = create_model(runtime, owner, published=True)
    deadline = utcnow() + timedelta(days=3)
    set_version(runtime, made.version_ids[0], early_access_days=5, early_access_ends_at=deadline)
    response = client.get(url(made), follow_redirects=False)
    assert response.status_code == 403
    assert response.json()["error"] == "Early Access" and response.json()["deadline"] == deadline.isoformat()
    browser = client.get(url(made), headers=HTML, follow_redirects=False)
    assert browser.status_code == 302 and browser.headers["location"].startswith(f"/models/{made.id}")
    owner_key = create_api_key(runtime, owner)
    assert client.get(f"{url(made)}?token={owner_key}", follow_redirects=False).status_code == 307
    set_version(runtime, made.version_ids[0], early_access_ends_at=utcnow() - timedelta(seconds=1))
    assert client.get(url(made), follow_redirects=False).status_code == 307


def test_file_choice(runtime, client, owner):
    made = create_model(runtime, owner)
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        version = session.get(ModelVersion, made.version_ids[0])
        assert user is not None and version is not None
        config = files.add_file(
            session, user, version, filename="config.yaml", stream=io.BytesIO(b"a: 1"), file_type="Config"
        ).id
        full = files.add_file(
            session, user, version, filename="full.safetensors", stream=io.BytesIO(tiny_lora(7)),
            metadata={"size": "full", "fp": "fp32"},
        ).id  # fmt: skip
    with runtime.db.transaction() as session:
        scan_file(session, file_id=config)  # a file that could carry code is offered once scanned
    with runtime.db.transaction() as session:
        from modelyard.catalog.lifecycle import transitions as lifecycle

        user = session.get(User, owner.id)
        lifecycle.publish_model(session, session.get(Model, made.id), user)  # type: ignore[arg-type]
    other = create_model(runtime, owner, name="Other", published=True)

    def chosen(query: str) -> int | None:
        response = client.get(f"{url(made)}{query}", follow_redirects=False)
        if response.status_code != 307:
            return response.status_code
        served = follow(client, response).content
        for file_id in (made.file_ids[0], config, full):
            if stored_bytes(runtime, file_id) == served:
                return file_id
        raise AssertionError("served bytes match no file")

    assert chosen("?type=Config") == config
    assert chosen("?size=full") == full
    assert chosen(f"?fileId={full}") == full
    assert chosen(f"?fileId={other.file_ids[0]}") == 404  # a file of another version
    assert chosen("?format=GGUF") == 404  # nothing has that format
    assert chosen("?type=Banana") == 400


def test_downloads_are_recorded_once_per_person_per_day(runtime, client, owner):
    made = create_model(runtime, owner, published=True)
    for _ in range(3):
        assert client.get(url(made), follow_redirects=False).status_code == 307
    key = create_api_key(runtime, create_user(runtime))
    client.get(f"{url(made)}?token={key}", follow_redirects=False)
    stats_buffer.buffered(runtime).flush()  # the route appends to this buffer; a thread writes it every second
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(StatEvent)) == 2


def test_too_many_downloads(runtime, client, owner):
    import dataclasses

    from fastapi.testclient import TestClient

    from modelyard.app import create_app
    from modelyard.core.runtime import set_runtime

    made = create_model(runtime, owner, published=True)
    strict = dataclasses.replace(runtime, settings=runtime.settings.model_copy(update={"downloads_per_hour": 2}))
    try:
        limited = TestClient(create_app(runtime=strict), raise_server_exceptions=False)
        statuses = [limited.get(url(made), follow_redirects=False) for _ in range(3)]
    finally:
        set_runtime(runtime)
    assert [response.status_code for response in statuses] == [307, 307, 429]
    assert int(statuses[-1].headers["retry-after"]) > 0 and "downloading" in statuses[-1].json()["error"]


def test_download_file_names():
    def name(model_type, model_name, version_name, file_name, **extra):
        model = Model(name=model_name, type=model_type)
        version = ModelVersion(
            name=version_name,
            trained_words=extra.get("words", []),
            base_model_type=extra.get("base_type", BaseModelType.Standard),
        )
        return download_filename(model, version, ModelFile(name=file_name, type=extra.get("file_type", "Model")))

    assert filenamize("Realistic Vision") == "realisticVision"
    assert filenamize("Bob's  Amazing---Photo Real Model") == "bobsAmazingPhoto"  # cut at a word, near 20
    assert (
        name(ModelType.Checkpoint, "Realistic Vision", "V5.1", "rv51.safetensors") == "realisticVision_v51.safetensors"
    )
    assert name(ModelType.Checkpoint, "Dreamy", "Dreamy v2", "x.ckpt") == "dreamy_v2.ckpt"  # model name removed
    assert name(ModelType.Checkpoint, "Dreamy", "DREAMY v2 dreamy", "x.ckpt") == "dreamy_v2.ckpt"  # in any case
    assert name(ModelType.Checkpoint, "İnk (v)", "İNK (V) final", "x.ckpt") == "nkV_final.ckpt"  # a longer lower case
    assert name(ModelType.Checkpoint, "Dreamy", "v2", "x.safetensors", base_type=BaseModelType.Inpainting) == (
        "dreamy_v2-inpainting.safetensors"
    )
    assert name(ModelType.LORA, "Ink", "v1", "ink_style.safetensors") == "ink_style.safetensors"
    assert name(ModelType.TextualInversion, "Bad Hands", "v1", "e.pt", words=["badhand"]) == "badhand.pt"
    assert name(ModelType.TextualInversion, "Bad", "v1", "e.pt", words=["bad"], file_type="Negative") == "bad-neg.pt"
    assert name(ModelType.Checkpoint, "Dreamy", "v2", "d.zip", file_type="Training Data") == (
        "dreamy_v2_trainingData.zip"
    )
    assert name(ModelType.Checkpoint, "中文", "v1", "orig.safetensors") == "orig.safetensors"  # nothing left of it


@pytest.mark.parametrize(
    ("given", "status"),
    [
        ("bytes=999999999-", 416),  # past the end
        ("bytes=5-2", 400),  # backwards
        ("bytes=abc", 400),
        ("bytes=", 400),
        ("items=0-7", 400),  # another unit
        ("bytes=0-1,,", 206),  # empty items are skipped
        ("bytes=" + ",".join(f"{n}-{n}" for n in range(400)), 200),  # too many ranges: the whole file instead
    ],
)
def test_bad_ranges_get_a_clear_answer_never_a_crash(runtime, client, owner, given, status):
    made = create_model(runtime, owner, published=True)
    response = client.get(url(made), follow_redirects=False)
    if urlsplit(response.headers["location"]).netloc not in ("", "testserver"):
        pytest.skip("the bucket serves presigned URLs itself; its Range handling is the S3 server's")
    served = follow(client, response, headers={"Range": given})
    assert served.status_code == status, served.text
    if status == 400:
        assert "range" in served.text.lower()  # says what was wrong
    if served.status_code == 416:
        assert served.headers["content-range"].startswith("bytes */")
    if served.status_code == 200:
        assert served.content == stored_bytes(runtime, made.file_ids[0])
    if served.status_code == 206:
        assert served.content == stored_bytes(runtime, made.file_ids[0])[:2]
