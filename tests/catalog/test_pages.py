"""The catalog's pages over HTTP, posted as a browser posts them: the page first (for the CSRF cookie), then the
form with its `csrf_token` field (multipart uploads carry it in the action URL)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import httpx
import pytest
from fastapi.testclient import TestClient

from modelyard.accounts.models import Role, User
from modelyard.catalog.enums import HashType, ModelStatus, ModelType
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.csrf import CSRF_COOKIE
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user

HTML = {"Accept": "text/html,application/xhtml+xml"}


def view(client: TestClient, path: str) -> httpx.Response:
    return client.get(path, headers=HTML, follow_redirects=False)


def form(
    client: TestClient,
    path: str,
    data: Mapping[str, str | Sequence[str]] | None = None,
    *,
    files: dict[str, tuple[str, bytes]] | None = None,
) -> httpx.Response:
    """Post a form as the browser does, with the token of the CSRF cookie."""
    if CSRF_COOKIE not in client.cookies:
        client.get("/", headers=HTML)
    token = client.cookies[CSRF_COOKIE]
    if files is not None:  # multipart: the token goes in the action URL
        return client.post(f"{path}?csrf_token={token}", data=data, files=files, headers=HTML, follow_redirects=False)
    return client.post(path, data={**(data or {}), "csrf_token": token}, headers=HTML, follow_redirects=False)


def log_in_page(client: TestClient, user: UserFixture) -> TestClient:
    response = form(client, "/login", {"login": user.username, "password": user.password})
    assert response.status_code == 303, response.text
    return client


def stored_model(runtime: Runtime, model_id: int) -> Model:
    with runtime.db.session() as session:
        model = session.get(Model, model_id)
        assert model is not None
        session.expunge(model)
        return model


def created_id(response: httpx.Response, pattern: str) -> int:
    assert response.status_code == 303, response.text
    match = re.fullmatch(pattern, response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


def sha256_of(runtime: Runtime, file_id: int) -> str:
    with runtime.db.session() as session:
        file = session.get(ModelFile, file_id)
        assert file is not None
        return file.hash_of(HashType.SHA256) or ""


# --- browsing -------------------------------------------------------------------------------------------------


def test_browse_lists_published_models_with_their_cover(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    lora = create_model(runtime, owner, name="Watercolor LoRA", published=True)
    create_model(runtime, owner, name="Secret draft")
    create_model(runtime, owner, name="Photo checkpoint", type=ModelType.Checkpoint, published=True)
    page = view(client, "/models")
    assert page.status_code == 200
    assert "Watercolor LoRA" in page.text and "Photo checkpoint" in page.text
    assert "Secret draft" not in page.text
    assert f"images/{lora.post_ids[0]}.webp" in page.text, "the latest version's first image is the cover"
    assert 'href="/models" aria-current="page"' in page.text or "Models" in page.text
    only_loras = view(client, "/models?type=LORA")
    assert "Watercolor LoRA" in only_loras.text and "Photo checkpoint" not in only_loras.text


def test_browse_pages_through_the_catalog(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.catalog.pages import browse

    monkeypatch.setattr(browse, "MODELS_PER_PAGE", 2)
    owner = create_user(runtime)
    for n in range(3):
        create_model(runtime, owner, name=f"Model number {n}", published=True, with_post=False)
    first, second = view(client, "/models"), view(client, "/models?page=2")
    assert "Model number 2" in first.text and "Model number 1" in first.text and 'page=2" rel="next">Next' in first.text
    assert "Model number 0" in second.text and "Model number 2" not in second.text


def test_the_header_links_to_the_models(client: TestClient) -> None:
    assert '<a href="/models">Models</a>' in view(client, "/").text


# --- the model page -------------------------------------------------------------------------------------------


def test_model_page_shows_versions_files_hashes_and_gallery(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime, username="brushwork")
    made = create_model(runtime, owner, name="Ink LoRA", versions=2, published=True, tags=["ink", "style"])
    page = view(client, f"/models/{made.id}")
    assert page.status_code == 200
    text = page.text.replace("<wbr>", "")  # file names carry break points
    assert "Ink LoRA" in text and "brushwork" in text and "ink" in text
    assert "v2" in text and "v1" in text and f"modelVersionId={made.version_ids[0]}" in text
    newest = made.version_ids[1]  # created last: index 0, shown first
    assert f'href="/models/{made.id}?modelVersionId={newest}" aria-current="page"' in text
    assert "Ink_LoRA_v2.safetensors" in text and "SD 1.5" in text and "<code>tok</code>" in text
    assert sha256_of(runtime, made.file_ids[1]) in text
    assert "Pickle scan: Pending" in text and "BLAKE3" in text and "AutoV2" in text
    assert f"images/{made.post_ids[1]}.webp" in text and f"images/{made.post_ids[0]}.webp" not in text
    assert "No credit needed" in text and "Commercial use: Sell" in text
    assert f"/models/{made.id}/edit" not in text and "/unpublish" not in text, "no owner buttons for visitors"
    other_tab = view(client, f"/models/{made.id}?modelVersionId={made.version_ids[0]}")
    other_text = other_tab.text.replace("<wbr>", "")
    assert "Ink_LoRA_v1.safetensors" in other_text and f"images/{made.post_ids[0]}.webp" in other_text


def test_the_slug_is_ignored(client: TestClient, runtime: Runtime) -> None:
    made = create_model(runtime, create_user(runtime), name="Slugged", published=True)
    assert "Slugged" in view(client, f"/models/{made.id}/anything-at-all").text


def test_a_draft_is_seen_by_its_owner_and_moderators_only(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, name="Work in progress")
    missing = view(client, f"/models/{made.id}")
    assert missing.status_code == 404 and "Page not found" in missing.text
    log_in_page(client, create_user(runtime))
    assert view(client, f"/models/{made.id}").status_code == 404
    client.cookies.clear()
    log_in_page(client, owner)
    mine = view(client, f"/models/{made.id}")
    assert mine.status_code == 200 and "Work in progress" in mine.text and ">Draft</span>" in mine.text
    assert f'href="/models/{made.id}/edit"' in mine.text and f'href="/models/{made.id}/publish"' in mine.text
    assert f"images/{made.post_ids[0]}.webp" in mine.text and "not published" in mine.text, "its hidden posts too"
    client.cookies.clear()
    log_in_page(client, create_user(runtime, role=Role.moderator))
    as_moderator = view(client, f"/models/{made.id}")
    assert as_moderator.status_code == 200 and f"/moderation/transitions?model={made.id}" in as_moderator.text


def test_an_unpublished_version_tab_is_not_found_for_the_public(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, versions=2, published=True)
    hidden = made.version_ids[1]
    with runtime.db.transaction() as session:
        version = session.get(ModelVersion, hidden)
        assert version is not None
        lifecycle.unpublish_version(session, version, session.get(User, owner.id))
    assert view(client, f"/models/{made.id}?modelVersionId={hidden}").status_code == 404
    public = view(client, f"/models/{made.id}")
    assert public.status_code == 200 and f"modelVersionId={hidden}" not in public.text
    log_in_page(client, owner)
    assert view(client, f"/models/{made.id}?modelVersionId={hidden}").status_code == 200


def test_a_deleted_model_is_gone_for_its_owner_and_a_moderator_restores_it(
    client: TestClient, runtime: Runtime
) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    log_in_page(client, owner)
    deleted = form(client, f"/models/{made.id}/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/my/models?done=deleted"
    assert view(client, f"/models/{made.id}").status_code == 404
    assert "The model is deleted" in view(client, deleted.headers["location"]).text
    client.cookies.clear()
    log_in_page(client, create_user(runtime, role=Role.moderator))
    page = view(client, f"/models/{made.id}")
    assert page.status_code == 200 and ">Deleted</span>" in page.text and "/restore" in page.text
    restored = form(client, f"/models/{made.id}/restore")
    assert restored.status_code == 303 and stored_model(runtime, made.id).status == ModelStatus.Unpublished


def test_someone_else_cannot_manage_a_model(client: TestClient, runtime: Runtime) -> None:
    made = create_model(runtime, create_user(runtime), published=True)
    log_in_page(client, create_user(runtime))
    assert view(client, f"/models/{made.id}/edit").status_code == 404
    assert view(client, f"/models/{made.id}/history").status_code == 404
    assert form(client, f"/models/{made.id}/unpublish").status_code == 404
    assert form(client, f"/models/{made.id}/delete").status_code == 404
    assert stored_model(runtime, made.id).status == ModelStatus.Published


def test_a_form_without_the_csrf_token_is_refused(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    log_in_page(client, owner)
    refused = client.post(f"/models/{made.id}/unpublish", data={}, headers=HTML, follow_redirects=False)
    assert refused.status_code == 403 and stored_model(runtime, made.id).status == ModelStatus.Published


# --- owner and moderator actions ------------------------------------------------------------------------------


def test_owner_unpublishes_from_the_dashboard_and_comes_back_to_it(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    log_in_page(client, owner)
    response = form(client, f"/models/{made.id}/unpublish", {"kind": "voluntary", "back": "/my/models"})
    assert response.status_code == 303 and response.headers["location"] == "/my/models?done=unpublished"
    assert stored_model(runtime, made.id).status == ModelStatus.Unpublished
    again = form(client, f"/models/{made.id}/unpublish", {"back": "/my/models"})
    assert again.status_code == 409 and "from Unpublished it can go to" in again.text, "the dashboard, with why"
    assert "Your models" in again.text and "Unpublished" in again.text


def test_an_action_never_redirects_off_the_site(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    log_in_page(client, owner)
    response = form(client, f"/models/{made.id}/unpublish", {"back": "//evil.example/x"})
    assert response.headers["location"] == f"/models/{made.id}?done=unpublished"


def test_only_moderators_unpublish_for_a_violation_and_the_owner_reads_why(
    client: TestClient, runtime: Runtime
) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    log_in_page(client, owner)
    refused = form(client, f"/models/{made.id}/unpublish", {"kind": "violation", "reason": "mine"})
    assert refused.status_code == 403
    client.cookies.clear()
    log_in_page(client, create_user(runtime, role=Role.moderator))
    data = {"kind": "legal", "reason": "DMCA notice 42", "custom_message": "Contact legal@example.com"}
    response = form(client, f"/models/{made.id}/unpublish", data)
    assert response.status_code == 303 and response.headers["location"] == f"/models/{made.id}?done=unpublished"
    assert stored_model(runtime, made.id).status == ModelStatus.UnpublishedViolation
    client.cookies.clear()
    log_in_page(client, owner)
    page = view(client, f"/models/{made.id}")
    assert "Reason: DMCA notice 42" in page.text and "Contact legal@example.com" in page.text
    assert f'href="/models/{made.id}/publish"' not in page.text, "lifting a violation is for moderators"


def test_history_shows_the_models_status_changes(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime, username="histowner")
    made = create_model(runtime, owner, name="Changing", published=True)
    log_in_page(client, owner)
    page = view(client, f"/models/{made.id}/history")
    assert page.status_code == 200 and "Changing" in page.text
    assert page.text.count(">Published</span>") >= 2 and "histowner" in page.text and "Version v1" in page.text


def test_the_transition_log_is_for_moderators(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    first = create_model(runtime, owner, name="First one", published=True)
    create_model(runtime, owner, name="Second one", published=True)
    anonymous = view(client, "/moderation/transitions")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    log_in_page(client, owner)
    assert view(client, "/moderation/transitions").status_code == 403
    client.cookies.clear()
    log_in_page(client, create_user(runtime, role=Role.moderator))
    everything = view(client, "/moderation/transitions")
    assert everything.status_code == 200 and "First one" in everything.text and "Second one" in everything.text
    one = view(client, f"/moderation/transitions?model={first.id}")
    assert "First one" in one.text and "Second one" not in one.text


def test_the_transition_log_pages_with_before(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.catalog.pages import moderation

    monkeypatch.setattr(moderation, "TRANSITIONS_PER_PAGE", 2)
    owner = create_user(runtime)
    create_model(runtime, owner, name="Paged model", versions=2, published=True)  # three transitions
    log_in_page(client, create_user(runtime, role=Role.moderator))
    first = view(client, "/moderation/transitions")
    older = re.search(r'href="(/moderation/transitions\?before=\d+)"', first.text)
    assert older, "a link to older entries"
    second = view(client, older.group(1))
    assert second.status_code == 200 and second.text.count("<tr>") == 2  # header row + the oldest entry


# --- the dashboard --------------------------------------------------------------------------------------------


def test_the_dashboard_needs_a_log_in(client: TestClient) -> None:
    response = view(client, "/my/models")
    assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fmy%2Fmodels"
    assert view(client, "/models/new").headers["location"] == "/login?next=%2Fmodels%2Fnew"
    assert form(client, "/models/new", {"name": "x"}).headers["location"] == "/login?next=%2Fmy%2Fmodels"


def test_the_dashboard_counts_and_filters_by_status(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    create_model(runtime, owner, name="Live one", published=True)
    create_model(runtime, owner, name="Draft one")
    create_model(runtime, create_user(runtime), name="Not mine", published=True)
    log_in_page(client, owner)
    page = view(client, "/my/models")
    assert page.status_code == 200 and "Live one" in page.text and "Draft one" in page.text
    assert "Not mine" not in page.text and 'All <span class="count">2</span>' in page.text
    drafts = view(client, "/my/models?status=Draft")
    assert "Draft one" in drafts.text and "Live one" not in drafts.text


def test_catalog_pages_pass_the_content_security_policy(client: TestClient, runtime: Runtime) -> None:
    from tests.web.test_pages import scan

    moderator = create_user(runtime, role=Role.moderator)
    made = create_model(runtime, moderator, versions=2, published=True)
    log_in_page(client, moderator)
    paths = [
        "/models",
        f"/models/{made.id}",
        f"/models/{made.id}/history",
        "/moderation/transitions",
        "/my/models",
        "/models/new",
        f"/models/{made.id}/edit",
        f"/models/{made.id}/versions/new",
        f"/model-versions/{made.version_ids[0]}/edit",
        f"/models/{made.id}/publish",
    ]
    for path in paths:
        response = view(client, path)
        assert response.status_code == 200, path
        page = scan(response.text)
        assert page.inline_scripts == 0 and page.style_tags == 0, path
        assert page.style_attributes == [] and page.handler_attributes == [], path
        assert all(src.startswith("/static/") and "?v=" in src for src in page.script_srcs), path
