"""The site's error pages for people who are logged in: styled like every page, with their account in the header.

They render after the request's session has ended (rolled back and closed), so the header cannot read the user
the request resolved; it used to raise DetachedInstanceError there, and the page fell back to an unstyled one."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from modelyard.accounts.models import Role
from modelyard.accounts.scopes import TokenScope
from modelyard.core.runtime import Runtime
from modelyard.web.templating import static_url
from tests.support.factories import create_api_key, create_user, log_in
from tests.web.test_pages import HTML, scan


def assert_styled_with_account(html: str, username: str) -> None:
    assert f'<link rel="stylesheet" href="{static_url("css/app.css")}">' in html, "the site's own page, styled"
    assert f'aria-label="Account menu for {username}"' in html, "the header shows who is logged in"


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("/models/999999", 404, "Page not found"),  # a page that looked the visitor up, then found nothing
        ("/admin", 403, "Access denied"),  # a page whose dependency refused the visitor
        ("/no/such/page", 404, "Page not found"),  # no route at all: the header looks the cookie up itself
    ],
)
def test_a_logged_in_visitor_gets_the_styled_error_page_with_their_account(
    client: TestClient, runtime: Runtime, caplog: pytest.LogCaptureFixture, path: str, status: int, title: str
) -> None:
    user = create_user(runtime)
    log_in(client, user)
    with caplog.at_level(logging.ERROR):
        response = client.get(path, headers=HTML)
    assert response.status_code == status
    assert scan(response.text).h1 == [title]
    assert_styled_with_account(response.text, user.username)
    assert not [record for record in caplog.records if record.getMessage() == "error page failed to render"]


def test_an_api_key_caller_sees_no_staff_menu_on_an_error_page(client: TestClient, runtime: Runtime) -> None:
    """Read again after the session ended, the user still carries what their key withheld: a moderator's key
    without the Full scope gets no link to the administration area."""
    moderator = create_user(runtime, role=Role.moderator)
    narrow = create_api_key(runtime, moderator, scopes=TokenScope.ModelsRead)
    response = client.get("/models/999999", headers={**HTML, "Authorization": f"Bearer {narrow}"})
    assert response.status_code == 404
    assert_styled_with_account(response.text, moderator.username)
    assert 'href="/admin"' not in response.text
    full = create_api_key(runtime, moderator)
    response = client.get("/models/999999", headers={**HTML, "Authorization": f"Bearer {full}"})
    assert re.search(r'<a class="account-menu__item" href="/admin">', response.text)
