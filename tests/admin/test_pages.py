"""The administration area over HTTP: who may enter, its navigation and home page made of what the domains
registered, and its own pages (background jobs, outgoing e-mail). The users section: tests/accounts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard.accounts.models import Role
from modelyard.core.jobs import Job, JobStatus
from modelyard.core.runtime import Runtime
from tests.accounts.test_admin_pages import logged_in_as
from tests.accounts.test_email_links import last_link
from tests.accounts.test_pages import form
from tests.support.factories import create_dead_job, create_user
from tests.web.test_pages import HTML


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


def nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav class="subnav" aria-label="Administration">(.*?)</nav>', html, re.S)
    assert nav is not None
    return re.findall(r'href="([^"]+)"', nav.group(1))


MODERATOR_SECTIONS = ["/admin", "/moderation", "/admin/users", "/moderation/held-files", "/moderation/transitions"]
ADMIN_SECTIONS = [*MODERATOR_SECTIONS, "/admin/jobs", "/admin/emails", "/admin/flags"]


def test_the_area_is_made_of_the_sections_the_domains_registered(client: TestClient, runtime: Runtime) -> None:
    """Accounts, the catalog, flags and the area itself each registered theirs; every page of the area shows
    the same navigation, its own section marked, and the home page a card for each."""
    logged_in_as(client, runtime, Role.moderator)
    home = client.get("/admin", headers=HTML).text
    assert nav_links(home) == MODERATOR_SECTIONS
    assert re.findall(r'<a class="card admin-card" href="([^"]+)"', home) == MODERATOR_SECTIONS[1:]
    for path in MODERATOR_SECTIONS[1:]:
        page = client.get(path, headers=HTML).text
        assert nav_links(page) == MODERATOR_SECTIONS, path
        assert f'<a href="{path}" aria-current="page">' in page, path
    client.cookies.clear()
    logged_in_as(client, runtime, Role.admin)
    home = client.get("/admin", headers=HTML).text
    assert nav_links(home) == ADMIN_SECTIONS
    assert re.findall(r'<a class="card admin-card" href="([^"]+)"', home) == ADMIN_SECTIONS[1:]
    for path in ADMIN_SECTIONS[4:]:
        page = client.get(path, headers=HTML).text
        assert nav_links(page) == ADMIN_SECTIONS, path
        assert f'<a href="{path}" aria-current="page">' in page, path


def figures(html: str) -> dict[str, str]:
    pairs = re.findall(r'<span class="stat__value[^"]*">(\d+)</span><span class="stat__label">([^<]+)</span>', html)
    return {label: value for value, label in pairs}


def test_the_home_page_shows_the_figures_of_the_domains(client: TestClient, runtime: Runtime, tmp_path: Path) -> None:
    create_dead_job(runtime, tmp_path)
    logged_in_as(client, runtime, Role.moderator)
    banned = create_user(runtime)
    form(client, f"/admin/users/{banned.id}/ban", {"reason": "spam"})
    reviews = {"open reports": "0", "items to review": "0"}
    assert figures(client.get("/admin", headers=HTML).text) == {**reviews, "users": "2", "muted": "0", "banned": "1"}
    client.cookies.clear()
    logged_in_as(client, runtime, Role.admin)
    shown = figures(client.get("/admin", headers=HTML).text)
    assert shown == {**reviews, "users": "3", "muted": "0", "banned": "1", "dead jobs": "1"}
