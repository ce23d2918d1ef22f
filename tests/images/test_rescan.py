"""Processing an image again: its author (from the post editor or the API) or a moderator, after an Error; a
blocked image is not rescanned, and no one else may ask."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from modelyard.accounts.models import Role
from modelyard.core.runtime import Runtime
from modelyard.images.models import BlockedFor, Image, Ingestion
from tests.images.pictures import encoded, scene
from tests.support.factories import create_user, log_in
from tests.support.ingestion import image, run_ingestion, upload

HTML = {"Accept": "text/html"}


def _failed_image(runtime: Runtime, owner) -> int:  # type: ignore[no-untyped-def]
    image_id = upload(runtime, owner, encoded(scene()))
    run_ingestion(runtime)
    with runtime.db.transaction() as session:
        session.execute(
            update(Image).where(Image.id == image_id).values(ingestion=Ingestion.Error, ingestion_error="It broke")
        )
    return image_id


def test_the_author_processes_a_failed_image_again_through_the_api(runtime: Runtime, client: TestClient) -> None:
    owner = create_user(runtime)
    image_id = _failed_image(runtime, owner)
    log_in(client, owner)
    answer = client.post(f"/api/images/{image_id}/rescan")
    assert answer.status_code == 200, answer.text
    assert answer.json()["ingestion"] == "Pending" and image(runtime, image_id).ingestion_error is None
    run_ingestion(runtime)
    assert image(runtime, image_id).ingestion == Ingestion.Scanned


def test_the_editor_offers_it_without_javascript(runtime: Runtime, client: TestClient) -> None:
    owner = create_user(runtime)
    image_id = _failed_image(runtime, owner)
    post_id = image(runtime, image_id).post_id
    log_in(client, owner)
    editor = client.get(f"/posts/{post_id}/edit", headers=HTML).text
    action = f"/posts/{post_id}/images/{image_id}/rescan"
    assert action in editor and "Process it again" in editor
    done = client.post(action, headers=HTML, follow_redirects=False)
    assert done.status_code == 303 and image(runtime, image_id).ingestion == Ingestion.Pending


def test_others_may_not_and_blocked_images_are_not_rescanned(runtime: Runtime, client: TestClient) -> None:
    owner, other = create_user(runtime), create_user(runtime)
    moderator = create_user(runtime, role=Role.moderator)
    image_id = _failed_image(runtime, owner)
    log_in(client, other)
    assert client.post(f"/api/images/{image_id}/rescan").status_code == 404  # not theirs to see while failed
    assert image(runtime, image_id).ingestion == Ingestion.Error
    log_in(client, moderator)
    assert client.post(f"/api/images/{image_id}/rescan").status_code == 200
    with runtime.db.transaction() as session:
        session.execute(
            update(Image)
            .where(Image.id == image_id)
            .values(ingestion=Ingestion.Blocked, blocked_for=BlockedFor.moderated)
        )
    assert client.post(f"/api/images/{image_id}/rescan").status_code == 409
    assert image(runtime, image_id).ingestion == Ingestion.Blocked
