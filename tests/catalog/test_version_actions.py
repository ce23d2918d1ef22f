"""The version page's unpublish and publish-again actions: only for the model's managers (others get the 404 of
a version that does not exist), with the lifecycle's rules (early-access purchases, a violation, a model that is
down), and the buttons shown only when the action would work. The browser walk is in test_browser_version_page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from modelyard.accounts.models import Role
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.models import ModelVersion
from modelyard.core.runtime import Runtime
from tests.catalog.test_pages import form, log_in_page, view
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user

UNPUBLISH, REPUBLISH = "Unpublish this version", "Publish this version again"


def status_of(runtime: Runtime, version_id: int) -> ModelStatus:
    with runtime.db.session() as session:
        version = session.get(ModelVersion, version_id)
        assert version is not None
        return version.status


def page_of(client: Any, model_id: int, version_id: int) -> str:
    response = view(client, f"/models/{model_id}?modelVersionId={version_id}")
    assert response.status_code == 200
    return response.text


def test_others_cannot_act_on_a_version(client, runtime: Runtime) -> None:
    made = create_model(runtime, create_user(runtime), versions=2, published=True)
    version_id = made.version_ids[0]
    anonymous = form(client, f"/model-versions/{version_id}/unpublish")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    log_in_page(client, create_user(runtime))
    assert UNPUBLISH not in page_of(client, made.id, version_id)
    for action in ("unpublish", "republish"):
        assert form(client, f"/model-versions/{version_id}/{action}").status_code == 404
    assert form(client, "/model-versions/2147483647/unpublish").status_code == 404
    assert form(client, "/model-versions/99999999999999999999/unpublish").status_code == 422
    assert status_of(runtime, version_id) == ModelStatus.Published


def test_a_read_only_key_cannot_act(client, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, versions=2, published=True)
    key = create_api_key(runtime, owner, scopes=TokenScope.ModelsRead)
    response = client.post(f"/model-versions/{made.version_ids[0]}/unpublish?token={key}")
    assert response.status_code == 403
    assert status_of(runtime, made.version_ids[0]) == ModelStatus.Published


def test_after_an_early_access_purchase_the_owner_gets_no_unpublish_button(client, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, versions=2, published=True)
    version_id = made.version_ids[0]
    with runtime.db.transaction() as session:
        version = session.get(ModelVersion, version_id)
        assert version is not None
        effects.record_early_access_purchase(session, version)
    log_in_page(client, owner)
    assert UNPUBLISH not in page_of(client, made.id, version_id)
    refused = form(client, f"/model-versions/{version_id}/unpublish")
    assert refused.status_code == 403 and "early access" in refused.text  # the page again, saying why
    assert status_of(runtime, version_id) == ModelStatus.Published
    client.cookies.clear()
    log_in_page(client, create_user(runtime, role=Role.moderator))
    assert UNPUBLISH in page_of(client, made.id, version_id)  # a moderator still can


def test_a_violation_comes_back_only_by_a_moderator(client, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, versions=2, published=True)
    version_id = made.version_ids[0]
    with runtime.db.transaction() as session:
        session.execute(
            update(ModelVersion).where(ModelVersion.id == version_id).values(status=ModelStatus.UnpublishedViolation)
        )
    log_in_page(client, owner)
    assert REPUBLISH not in page_of(client, made.id, version_id)
    assert form(client, f"/model-versions/{version_id}/republish").status_code == 403
    client.cookies.clear()
    log_in_page(client, create_user(runtime, role=Role.moderator))
    assert REPUBLISH in page_of(client, made.id, version_id)
    done = form(client, f"/model-versions/{version_id}/republish")
    assert done.status_code == 303 and done.headers["location"].endswith("done=version-republished")
    assert status_of(runtime, version_id) == ModelStatus.Published
