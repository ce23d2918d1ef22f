"""The administration pages over HTTP (users, jobs, e-mail), and every account and admin page checked against
what the Content-Security-Policy forbids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from modelyard.accounts.models import ModerationAction, Role, User
from modelyard.core.jobs import Job, JobStatus
from modelyard.core.runtime import Runtime
from tests.accounts.test_email_links import last_link
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


@pytest.mark.parametrize("path", ["/admin", "/admin/users", "/admin/users/1", "/admin/jobs", "/admin/emails"])
def test_plain_users_get_the_403_page(client: TestClient, runtime: Runtime, path: str) -> None:
    logged_in_as(client, runtime, Role.user)
    response = client.get(path, headers=HTML)
    assert response.status_code == 403 and "Access denied" in response.text


def test_moderators_see_users_but_not_jobs_or_email(client: TestClient, runtime: Runtime) -> None:
    logged_in_as(client, runtime, Role.moderator)
    landing = client.get("/admin", headers=HTML).text
    assert 'href="/admin/users"' in landing and 'href="/admin/jobs"' not in landing
    assert 'href="/admin"' in client.get("/", headers=HTML).text, "the header menu links to the admin pages"
    for path in ("/admin/jobs", "/admin/emails"):
        assert client.get(path, headers=HTML).status_code == 403


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


def test_dead_jobs_are_listed_and_requeued(client: TestClient, runtime: Runtime, tmp_path: Path) -> None:
    job_id = create_dead_job(runtime, tmp_path)
    logged_in_as(client, runtime, Role.admin)
    page = client.get("/admin/jobs", headers=HTML).text
    assert "tests.fails_while_flag" in page and "flag file" in page
    response = form(client, f"/admin/jobs/{job_id}/requeue")
    assert response.status_code == 303 and response.headers["location"] == "/admin/jobs?done=requeued"
    with runtime.db.session() as session:
        assert session.get(Job, job_id).status == JobStatus.pending  # type: ignore[union-attr]
    again = form(client, f"/admin/jobs/{job_id}/requeue")
    assert again.status_code == 409 and "only dead jobs can be requeued" in again.text


def test_admins_read_reset_links_on_the_email_page(client: TestClient, runtime: Runtime) -> None:
    user = create_user(runtime)
    form(client, "/reset-password", {"email": user.email})
    logged_in_as(client, runtime, Role.admin)
    token = last_link(runtime, user.email, "/reset-password/confirm")
    page = client.get("/admin/emails", params={"to": user.email}, headers=HTML).text
    link = f"http://testserver/reset-password/confirm?token={token}"
    assert f'<a href="{link}" rel="noopener noreferrer">{link}</a>' in page
    assert "No mail server is configured" in page
    assert "Reset your password" not in client.get("/admin/emails", params={"to": "x@example.com"}, headers=HTML).text


def test_email_bodies_are_escaped(client: TestClient, runtime: Runtime) -> None:
    from modelyard.mail.service import send_email

    with runtime.db.transaction() as session:
        send_email(session, to="x@example.com", subject="<b>hi</b>", body='<script>x</script> https://a.example/"x')
    logged_in_as(client, runtime, Role.admin)
    page = client.get("/admin/emails", headers=HTML).text
    assert "<script>x" not in page and "&lt;script&gt;x" in page and "<b>hi" not in page
    assert '<a href="https://a.example/&#34;x"' not in page and 'href="https://a.example/"' in page


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
