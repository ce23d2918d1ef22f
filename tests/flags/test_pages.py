"""The admin page: list with targeting and exposures, create and edit forms, quick roll-out actions.

The forms are posted with an API key, which the CSRF middleware exempts; a browser posts the `csrf_token`
field each form renders.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from modelyard.accounts.apikeys import create_key
from modelyard.accounts.models import Role
from modelyard.accounts.service import create_user
from modelyard.core.runtime import Runtime
from modelyard.flags import service
from modelyard.flags.models import FeatureFlag

HTML = {"Accept": "text/html,application/xhtml+xml"}
PAGE = "/admin/flags"


def headers_for(runtime: Runtime, username: str, role: Role) -> dict[str, str]:
    with runtime.db.transaction() as session:
        user = create_user(session, username=username, email=f"{username}@example.com", password=None, role=role)
        return {**HTML, "Authorization": f"Bearer {create_key(session, user, name='t').key}"}


@pytest.fixture
def admin(runtime: Runtime) -> dict[str, str]:
    return headers_for(runtime, "page_admin", Role.admin)


def stored(runtime: Runtime, name: str) -> FeatureFlag | None:
    with runtime.db.session() as session:
        return session.scalar(select(FeatureFlag).where(FeatureFlag.name == name))


def create(client: TestClient, admin: dict[str, str], **fields: str | list[str]) -> int:
    return client.post(PAGE, data=fields, headers=admin).status_code


def test_page_lists_flags_with_targeting_and_exposures(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    create(client, admin, name="new-feed", enabled="on", roles=["moderator"], percentage="20", user_ids="4, 9")
    with runtime.db.transaction() as session:
        service.add_exposures(session, {("new-feed", ""): 42})
    response = client.get(PAGE, headers=admin)
    assert response.status_code == 200
    row = re.search(r'<tr id="flag-new-feed">.*?</tr>', response.text, re.S)
    assert row is not None
    assert "roles: moderator; 2 listed users; 20 % of users" in row.group(0)
    assert "on: 42" in row.group(0)
    assert 'action="/admin/flags/new-feed/toggle"' in row.group(0)


def test_page_has_no_inline_script_or_style(client: TestClient, admin: dict[str, str]) -> None:
    create(client, admin, name="csp-check")
    for path in (PAGE, f"{PAGE}/csp-check"):
        text = client.get(path, headers=admin).text
        assert " style=" not in text and "<style" not in text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text)
        assert re.search(r' on[a-z]+="', text) is None


def test_forms_carry_the_csrf_field(client: TestClient, admin: dict[str, str]) -> None:
    create(client, admin, name="with-forms")
    text = client.get(PAGE, headers=admin).text
    posting = len(re.findall(r'<form\b[^>]*\bmethod="post"', text, flags=re.IGNORECASE))
    assert posting == text.count('name="csrf_token"') > 0  # GET forms (the header's search) change nothing


def test_non_admin_gets_the_403_page(client: TestClient, runtime: Runtime) -> None:
    moderator = headers_for(runtime, "page_moderator", Role.moderator)
    response = client.get(PAGE, headers=moderator)
    assert response.status_code == 403
    assert "Access denied" in response.text
    assert client.post(PAGE, data={"name": "sneaky"}, headers=moderator).status_code == 403
    assert stored(runtime, "sneaky") is None


def test_anonymous_visitor_is_sent_to_log_in(client: TestClient) -> None:
    """As on every page of the administration area: the log-in form, then back here."""
    response = client.get(PAGE, headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fadmin%2Fflags"


def test_create_form_stores_the_flag_and_redirects(client: TestClient, admin: dict[str, str], runtime: Runtime) -> None:
    status = create(
        client, admin, name="ab-upload", enabled="on", everyone="on", variants="control=3\nnew = 1\n", description="Try"
    )
    assert status == 303
    flag = stored(runtime, "ab-upload")
    assert flag is not None
    assert (flag.enabled, flag.everyone, flag.description) == (True, True, "Try")
    assert flag.variants == [{"name": "control", "weight": 3}, {"name": "new", "weight": 1}]


def test_saved_notice_names_only_an_existing_flag(client: TestClient, admin: dict[str, str]) -> None:
    create(client, admin, name="real-flag")
    assert "Saved real-flag." in client.get(f"{PAGE}?saved=real-flag", headers=admin).text
    assert "Saved" not in client.get(f"{PAGE}?saved=Your+account+is+hacked", headers=admin).text


def test_create_form_with_errors_shows_them_and_stores_nothing(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    response = client.post(PAGE, data={"name": "Bad Name", "percentage": "150"}, headers=admin)
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    assert "name: String should match pattern" in response.text
    assert "percentage: Input should be less than or equal to 100" in response.text
    assert 'value="Bad Name"' in response.text  # what was typed is kept
    assert stored(runtime, "Bad Name") is None


def test_create_form_with_a_taken_name_says_so(client: TestClient, admin: dict[str, str]) -> None:
    create(client, admin, name="taken")
    response = client.post(PAGE, data={"name": "taken"}, headers=admin)
    assert response.status_code == 409
    assert "A flag named taken exists already" in response.text


def test_toggle_switches_enabled(client: TestClient, admin: dict[str, str], runtime: Runtime) -> None:
    create(client, admin, name="switch")
    assert client.post(f"{PAGE}/switch/toggle", headers=admin).status_code == 303
    flag = stored(runtime, "switch")
    assert flag is not None and flag.enabled


def test_percentage_quick_action_rolls_out(client: TestClient, admin: dict[str, str], runtime: Runtime) -> None:
    create(client, admin, name="ramp", enabled="on", percentage="5")
    response = client.post(f"{PAGE}/ramp/percentage", data={"percentage": "50"}, headers=admin)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/flags?saved=ramp"
    flag = stored(runtime, "ramp")
    assert flag is not None and flag.percentage == 50


def test_invalid_percentage_quick_action_changes_nothing(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    create(client, admin, name="ramp", enabled="on", percentage="5")
    assert client.post(f"{PAGE}/ramp/percentage", data={"percentage": "150"}, headers=admin).status_code == 422
    flag = stored(runtime, "ramp")
    assert flag is not None and flag.percentage == 5


def test_edit_form_shows_and_updates_the_rules(client: TestClient, admin: dict[str, str], runtime: Runtime) -> None:
    create(client, admin, name="editable", enabled="on", roles=["admin"], user_ids="3")
    page = client.get(f"{PAGE}/editable", headers=admin).text
    assert 'value="admin" checked' in page and ">3</textarea>" in page
    response = client.post(f"{PAGE}/editable", data={"roles": ["moderator"], "percentage": "10"}, headers=admin)
    assert response.status_code == 303
    flag = stored(runtime, "editable")
    assert flag is not None
    # An unchecked box is absent from a posted form: the edit form sends the whole flag.
    assert (flag.enabled, flag.roles, flag.user_ids, flag.percentage) == (False, ["moderator"], [], 10)


def test_edit_form_with_errors_changes_nothing(client: TestClient, admin: dict[str, str], runtime: Runtime) -> None:
    create(client, admin, name="editable", enabled="on")
    response = client.post(f"{PAGE}/editable", data={"enabled": "on", "variants": "a=-1"}, headers=admin)
    assert response.status_code == 422
    assert "variants.0.weight" in response.text
    flag = stored(runtime, "editable")
    assert flag is not None and flag.variants is None


def test_delete_button_removes_the_flag(client: TestClient, admin: dict[str, str], runtime: Runtime) -> None:
    create(client, admin, name="doomed")
    assert client.post(f"{PAGE}/doomed/delete", headers=admin).status_code == 303
    assert stored(runtime, "doomed") is None
