"""The users section of the administration area over HTTP, and every account and admin page checked against
what the Content-Security-Policy forbids. The area itself, jobs and e-mail: tests/admin/test_pages.py."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from modelyard.accounts.models import ModerationAction, Role, User
from modelyard.core.runtime import Runtime
from tests.accounts.test_pages import form, log_in_page
from tests.support.factories import UserFixture, create_dead_job, create_user
from tests.web.test_pages import HTML, scan


def logged_in_as(client: TestClient, runtime: Runtime, role: Role, username: str | None = None) -> UserFixture:
    user = create_user(runtime, role=role, username=username)
    log_in_page(client, user)
    return user


def stored(runtime: Runtime, user_id: int) -> User:
    with runtime.db.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


def history_count(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(ModerationAction)) or 0


def test_moderator_mutes_and_bans_with_a_reason(client: TestClient, runtime: Runtime) -> None:
    moderator = logged_in_as(client, runtime, Role.moderator, "mod_mira")
    target = create_user(runtime)
    page = client.get(f"/admin/users/{target.id}", headers=HTML).text
    assert f'action="/admin/users/{target.id}/ban"' in page and "/role" not in page, "roles are for admins"
    muted = form(client, f"/admin/users/{target.id}/mute", {"reason": "Spam in the comments"})
    assert muted.status_code == 303 and muted.headers["location"] == f"/admin/users/{target.id}?done=muted"
    banned = form(client, f"/admin/users/{target.id}/ban", {"reason": "Posting spam links"})
    assert banned.headers["location"] == f"/admin/users/{target.id}?done=banned"
    user = stored(runtime, target.id)
    assert user.is_muted and user.is_banned
    page = client.get(banned.headers["location"], headers=HTML).text
    assert "The user is banned" in page and "Posting spam links" in page and moderator.username in page
    assert f'action="/admin/users/{target.id}/unban"' in page


def test_ban_without_a_reason_changes_nothing(client: TestClient, runtime: Runtime) -> None:
    logged_in_as(client, runtime, Role.moderator)
    target = create_user(runtime)
    response = form(client, f"/admin/users/{target.id}/ban", {"reason": "   "})
    assert response.status_code == 422 and "a reason is required" in response.text
    assert not stored(runtime, target.id).is_banned and history_count(runtime) == 0


def test_moderators_cannot_act_on_moderators_or_change_roles(client: TestClient, runtime: Runtime) -> None:
    logged_in_as(client, runtime, Role.moderator)
    colleague = create_user(runtime, role=Role.moderator)
    refused = form(client, f"/admin/users/{colleague.id}/ban", {"reason": "a feud"})
    assert refused.status_code == 403 and f"You cannot moderate {colleague.username}" in refused.text
    assert form(client, f"/admin/users/{colleague.id}/role", {"role": "user"}).status_code == 403
    assert stored(runtime, colleague.id).role == Role.moderator and not stored(runtime, colleague.id).is_banned


def test_admin_changes_a_role(client: TestClient, runtime: Runtime) -> None:
    logged_in_as(client, runtime, Role.admin)
    target = create_user(runtime)
    unknown = form(client, f"/admin/users/{target.id}/role", {"role": "emperor"})
    assert unknown.status_code == 422 and "Choose one of the roles" in unknown.text
    response = form(client, f"/admin/users/{target.id}/role", {"role": "moderator", "reason": "trusted"})
    assert response.headers["location"] == f"/admin/users/{target.id}?done=role-changed"
    assert stored(runtime, target.id).role == Role.moderator
    page = client.get(response.headers["location"], headers=HTML).text
    assert "user → moderator" in page and "trusted" in page


def test_user_search(client: TestClient, runtime: Runtime) -> None:
    logged_in_as(client, runtime, Role.moderator)
    create_user(runtime, username="alice_paints")
    create_user(runtime, username="bob_sculpts")
    page = client.get("/admin/users", params={"q": "alice"}, headers=HTML).text
    assert "alice_paints" in page and "bob_sculpts" not in page and 'value="alice"' in page
    assert "No user matches" in client.get("/admin/users", params={"q": "zed"}, headers=HTML).text


# --- every page against what the CSP forbids -----------------------------------------------------------------

ANONYMOUS_PAGES = ["/login", "/signup", "/verify-email?token=t", "/reset-password", "/reset-password/confirm?token=t"]
ACCOUNT_PAGES = ["/", "/account", "/account/password", "/account/sessions", "/account/api-keys", "/account/linked"]
ADMIN_PAGES = ["/admin", "/admin/users", "/admin/users/{id}", "/admin/jobs", "/admin/emails", "/admin/users/2147483647"]


def assert_csp_clean(html: str, where: str) -> None:
    page = scan(html)
    assert page.inline_scripts == 0 and page.style_tags == 0, where
    assert page.style_attributes == [] and page.handler_attributes == [], where
    assert all(src.startswith("/static/") and "?v=" in src for src in page.script_srcs), where
    for body in re.findall(r'<form[^>]*method="post"[^>]*>(.*?)</form>', html, re.S):
        assert 'name="csrf_token"' in body, f"a form on {where} lacks the CSRF token"


def test_every_page_passes_the_csp_checks(client: TestClient, runtime: Runtime, tmp_path: Path) -> None:
    for path in ANONYMOUS_PAGES:
        assert_csp_clean(client.get(path, headers=HTML).text, path)
    create_dead_job(runtime, tmp_path)
    target = create_user(runtime, verified=False)
    form(client, "/reset-password", {"email": target.email})
    logged_in_as(client, runtime, Role.admin)
    form(client, f"/admin/users/{target.id}/mute", {"reason": "noise"})
    for path in ACCOUNT_PAGES + [p.format(id=target.id) for p in ADMIN_PAGES]:
        response = client.get(path, headers=HTML)
        assert response.status_code in (200, 404), path
        assert_csp_clean(response.text, path)
    created = form(client, "/account/api-keys", {"name": "k", "access": "full"})
    assert_csp_clean(created.text, "the new-key page")
    failed = form(client, f"/admin/users/{target.id}/ban", {"reason": ""})
    assert_csp_clean(failed.text, "a refused ban")
