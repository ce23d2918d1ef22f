"""The catalog's other lists page through `core.paging` too: a full last page offers no next page (a pager that
guessed from a full page sent people to an empty one), and `/api/me/models` says whether more follow."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from modelyard.accounts.models import Role
from modelyard.core.runtime import Runtime
from tests.catalog.test_pages import log_in_page, view
from tests.support.catalog import create_model
from tests.support.factories import create_user, log_in


def test_a_dashboard_whose_last_page_is_full_offers_no_next(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.catalog import queries

    monkeypatch.setattr(queries, "DASHBOARD_PAGE", 2)
    owner = create_user(runtime)
    for n in range(2):
        create_model(runtime, owner, name=f"Mine {n}", with_post=False)
    log_in_page(client, owner)
    assert ">Next</a>" not in view(client, "/my/models").text
    create_model(runtime, owner, name="Mine 2", with_post=False)
    assert ">Next</a>" in view(client, "/my/models").text


def test_my_models_says_whether_more_follow(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.catalog import queries

    monkeypatch.setattr(queries, "DASHBOARD_PAGE", 2)
    owner = create_user(runtime)
    for n in range(3):
        create_model(runtime, owner, name=f"Mine {n}", with_post=False)
    log_in(client, owner)
    first, second = client.get("/api/me/models").json(), client.get("/api/me/models?page=2").json()
    assert len(first["items"]) == 2 and first["has_next"] is True
    assert len(second["items"]) == 1 and second["has_next"] is False


def test_a_transition_log_whose_last_page_is_full_offers_no_older_page(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.catalog.pages import moderation

    monkeypatch.setattr(moderation, "TRANSITIONS_PER_PAGE", 3)
    create_model(runtime, create_user(runtime), name="Logged", versions=2, published=True)  # three transitions
    log_in_page(client, create_user(runtime, role=Role.moderator))
    assert "before=" not in view(client, "/moderation/transitions").text
