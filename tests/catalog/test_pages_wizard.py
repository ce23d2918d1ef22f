"""The create/edit wizard over HTTP, step by step through its forms: model, version, file upload, publishing now
or at a set time, and each step's errors shown with the input kept."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.files.safetensors import tiny_lora
from modelyard.catalog.models import ModelFile, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from tests.catalog.test_pages import created_id, form, log_in_page, stored_model, view
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import create_user

# --- the wizard -----------------------------------------------------------------------------------------------


def walk_to_a_file(client: TestClient, *, name: str = "Forest spirits") -> tuple[int, int]:
    """Create a model and a version with a file through the forms; returns (model id, version id)."""
    assert view(client, "/models/new").status_code == 200
    model_data = {
        "name": name,
        "type": "LORA",
        "description": "Paints **forest spirits**.",
        "tags": "fantasy, Forest ,fantasy",
        "allow_no_credit": "on",
        "allow_commercial_use": ["Image", "Rent"],
    }
    model_id = created_id(form(client, "/models/new", model_data), r"/models/(\d+)/edit\?done=model-created")
    edit = view(client, f"/models/{model_id}/edit?done=model-created")
    assert "Add a version" in edit.text or "Add version" in edit.text
    assert 'value="fantasy, forest"' in edit.text and "Your model is created as a draft" in edit.text
    assert view(client, f"/models/{model_id}/versions/new").status_code == 200
    version_data = {"name": "v1.0", "base_model": "SDXL 1.0", "trained_words": "spiritstyle\nglowing eyes"}
    response = form(client, f"/models/{model_id}/versions/new", version_data)
    version_id = created_id(response, r"/model-versions/(\d+)/edit\?done=version-created")
    upload = form(
        client,
        f"/model-versions/{version_id}/files",
        {"type": "Model", "fp": "fp16"},
        files={"file": ("forest_spirits.safetensors", tiny_lora(7))},
    )
    assert upload.status_code == 303 and upload.headers["location"].endswith("done=file-uploaded"), upload.text
    files_page = view(client, upload.headers["location"])
    assert "forest_spirits.safetensors" in files_page.text and "The file is uploaded" in files_page.text
    return model_id, version_id


def test_the_wizard_creates_uploads_and_publishes(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    log_in_page(client, owner)
    model_id, version_id = walk_to_a_file(client)
    assert view(client, f"/models/{model_id}/publish").status_code == 200
    published = form(client, f"/models/{model_id}/publish", {"when": "now"})
    assert published.status_code == 303 and published.headers["location"] == f"/models/{model_id}?done=published"
    with runtime.db.session() as session:
        file = session.scalars(select(ModelFile).where(ModelFile.model_version_id == version_id)).one()
        sha256 = next(row.hash for row in file.hashes if row.type.value == "SHA256")
    client.cookies.clear()
    public = view(client, f"/models/{model_id}")
    assert public.status_code == 200
    shown = public.text.replace("<wbr>", "")  # file names carry break points
    for expected in ("Forest spirits", "forest_spirits.safetensors", sha256, "<code>spiritstyle</code>", "SDXL 1.0"):
        assert expected in shown, expected
    assert "<strong>forest spirits</strong>" in public.text and "Commercial use: Image, Rent" in public.text


def test_scheduling_through_the_form(client: TestClient, runtime: Runtime) -> None:
    log_in_page(client, create_user(runtime))
    model_id, _ = walk_to_a_file(client)
    local = (utcnow() + timedelta(days=3)).astimezone().replace(tzinfo=None)
    data = {"when": "later", "scheduled_at": local.strftime("%Y-%m-%dT%H:%M"), "timezone": "Europe/Paris"}
    response = form(client, f"/models/{model_id}/publish", data)
    assert response.status_code == 303 and response.headers["location"] == f"/models/{model_id}?done=scheduled"
    model = stored_model(runtime, model_id)
    assert model.status == ModelStatus.Scheduled and model.scheduled_for is not None
    assert model.scheduled_for > utcnow() + timedelta(days=2)
    assert "Scheduled for" in view(client, f"/models/{model_id}/publish").text
    cancelled = form(client, f"/models/{model_id}/cancel-schedule", {"back": f"/models/{model_id}/publish"})
    assert cancelled.headers["location"] == f"/models/{model_id}/publish?done=schedule-cancelled"
    assert stored_model(runtime, model_id).status == ModelStatus.Draft


def test_a_schedule_in_the_past_is_refused_with_the_input_kept(client: TestClient, runtime: Runtime) -> None:
    log_in_page(client, create_user(runtime))
    model_id, _ = walk_to_a_file(client)
    data = {"when": "later", "scheduled_at": "2001-01-01T10:00", "timezone": "Asia/Tokyo"}
    response = form(client, f"/models/{model_id}/publish", data)
    assert response.status_code == 422 and "must be in the future" in response.text
    assert 'value="2001-01-01T10:00"' in response.text and 'value="Asia/Tokyo" selected' in response.text
    assert stored_model(runtime, model_id).status == ModelStatus.Draft


def test_model_form_errors_keep_the_input(client: TestClient, runtime: Runtime) -> None:
    log_in_page(client, create_user(runtime))
    data = {"name": "   ", "type": "LORA", "description": "Keep me", "tags": "one, two", "allow_commercial_use": "Sell"}
    response = form(client, "/models/new", data)
    assert response.status_code == 422 and "The name cannot be blank" in response.text
    assert "Keep me</textarea>" in response.text and 'value="one, two"' in response.text
    mixed = form(client, "/models/new", {**data, "name": "Fine", "allow_commercial_use": ["None", "Sell"]})
    assert mixed.status_code == 422 and "cannot be combined" in mixed.text


def test_version_and_publish_errors_are_shown_on_their_step(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, versions=1, with_files=False, with_post=False)
    log_in_page(client, owner)
    bad = form(client, f"/models/{made.id}/versions/new", {"name": "v2", "base_model": "", "trained_words": "kept"})
    assert bad.status_code == 422 and "Choose the base model" in bad.text and "kept</textarea>" in bad.text
    taken = form(client, f"/models/{made.id}/versions/new", {"name": "v1", "base_model": "SD 1.5"})
    assert taken.status_code == 409 and "has a version named" in taken.text
    no_file = form(client, f"/models/{made.id}/publish", {"when": "now"})
    assert no_file.status_code == 409 and "has no files" in no_file.text


def test_deleting_a_file_and_a_version(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, versions=2, with_post=False)
    log_in_page(client, owner)
    removed = form(client, f"/model-files/{made.file_ids[0]}/delete")
    assert removed.headers["location"] == f"/model-versions/{made.version_ids[0]}/edit?done=file-deleted"
    gone = form(client, f"/model-versions/{made.version_ids[1]}/delete")
    assert gone.headers["location"] == f"/models/{made.id}/edit?done=version-deleted"
    with runtime.db.session() as session:
        assert session.get(ModelFile, made.file_ids[0]) is None
        version = session.get(ModelVersion, made.version_ids[1])
        assert version is not None and version.status == ModelStatus.Deleted


def test_publishing_a_new_version_of_a_published_model(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made: ModelFixture = create_model(runtime, owner, published=True, with_post=False)
    log_in_page(client, owner)
    response = form(client, f"/models/{made.id}/versions/new", {"name": "v2", "base_model": "SD 1.5"})
    version_id = created_id(response, r"/model-versions/(\d+)/edit\?done=version-created")
    form(client, f"/model-versions/{version_id}/files", {}, files={"file": ("v2.safetensors", tiny_lora(9))})
    assert "Publish v2" in view(client, f"/models/{made.id}/publish").text
    published = form(client, f"/model-versions/{version_id}/publish", {"when": "now"})
    assert published.headers["location"] == f"/models/{made.id}?modelVersionId={version_id}&done=published"
    client.cookies.clear()
    assert "v2.safetensors" in view(client, f"/models/{made.id}?modelVersionId={version_id}").text.replace("<wbr>", "")


def test_an_upload_without_a_file_is_refused(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_files=False, with_post=False)
    log_in_page(client, owner)
    empty = form(client, f"/model-versions/{made.version_ids[0]}/files", {"type": "Model"}, files={"x": ("a", b"1")})
    assert empty.status_code == 422 and "Choose a file to upload" in empty.text
    unnamed = form(client, f"/model-versions/{made.version_ids[0]}/files", {}, files={"file": ("", b"")})
    assert unnamed.status_code == 422 and "Choose a file to upload" in unnamed.text
    blank = form(client, f"/model-versions/{made.version_ids[0]}/files", {}, files={"file": ("empty.bin", b"")})
    assert blank.status_code == 422 and "The file is empty" in blank.text
