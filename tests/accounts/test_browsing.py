"""Each person's browsing level and blur preference: PG for visitors and new accounts, adult levels only after
saying one is an adult, the header's toggle and the settings page saving the same thing, and the site's lists of
models following it."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from modelyard.accounts import browsing
from modelyard.accounts.models import User
from modelyard.catalog.models import Model
from tests.accounts.test_pages import form
from tests.support.catalog import create_model
from tests.support.factories import create_user, log_in

HTML = {"Accept": "text/html"}


def stored(runtime, user) -> tuple[int, bool]:
    with runtime.db.transaction() as session:
        record = session.get(User, user.id)
        return record.browsing_level, record.blur_nsfw


def save(client, data: dict[str, object]):
    return form(client, "/account/content", data)  # type: ignore[arg-type]


def test_visitors_and_new_accounts_see_pg_and_blur(runtime):
    user = create_user(runtime)
    assert browsing.browsing_level(None) == 1 and browsing.blurs_nsfw(None)
    assert stored(runtime, user) == (1, True)
    with runtime.db.transaction() as session:
        record = session.get(User, user.id)
        record.browsing_level = 32 | 64  # never Blocked, nothing outside PG..XXX
        assert browsing.browsing_level(record) == 1


def test_adult_levels_need_the_adult_statement_once(runtime, client):
    user = create_user(runtime)
    log_in(client, user)
    refused = save(client, {"levels": ["1", "4"], "blur": "1"})
    assert refused.status_code == 422 and "adult" in refused.text
    assert stored(runtime, user) == (1, True)
    saved = save(client, {"levels": ["1", "4"], "adult": "1"})
    assert saved.status_code == 303 and saved.headers["location"] == "/account/content?done=browsing-saved"
    assert stored(runtime, user) == (5, False)
    # Moving between adult levels does not ask again.
    assert save(client, {"levels": ["8", "16"], "blur": "1"}).status_code == 303
    assert stored(runtime, user) == (24, True)


@pytest.mark.parametrize("levels", [[], ["32"], ["64"], ["-1"], [str(2**40)]])
def test_junk_levels_are_refused_and_change_nothing(runtime, client, levels):
    user = create_user(runtime)
    log_in(client, user)
    response = save(client, {"levels": levels, "adult": "1"})
    assert response.status_code == 422
    assert stored(runtime, user) == (1, True)


def test_the_header_toggle_goes_back_where_it_was_used(runtime, client):
    user = create_user(runtime)
    log_in(client, user)
    response = save(client, {"levels": ["1", "2"], "blur": "1", "back": "/images?sort=oldest"})
    assert response.status_code == 303 and response.headers["location"] == "/images?sort=oldest"
    assert save(client, {"levels": ["1"], "back": "https://evil.example/"}).headers["location"] == "/account/content"
    assert stored(runtime, user) == (1, False)


def test_the_header_shows_the_level_menu(runtime, client):
    page = client.get("/models", headers=HTML).text
    assert "data-level-menu" in page and "You are seeing PG content only" in page and "/login?next=%2Fmodels" in page
    user = create_user(runtime)
    log_in(client, user)
    with runtime.db.transaction() as session:
        session.execute(update(User).where(User.id == user.id).values(browsing_level=5))
    page = client.get("/models", headers=HTML).text
    assert 'name="levels" value="4" checked' in page and 'name="levels" value="8" data-adult-level' in page
    assert 'name="adult"' not in page  # already sees adult levels


def test_the_settings_page_offers_every_level(runtime, client):
    log_in(client, create_user(runtime))
    page = client.get("/account/content", headers=HTML)
    assert page.status_code == 200
    for label in ("PG", "PG-13", "R", "X", "XXX"):
        assert f">{label}</span>" in page.text
    assert 'name="adult"' in page.text and 'href="/account/content" aria-current="page"' in page.text


def test_anonymous_visitors_cannot_save(client):
    response = form(client, "/account/content", {"levels": ["1"]})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_model_lists_follow_the_viewers_level(runtime, client):
    owner, reader = create_user(runtime), create_user(runtime)
    safe = create_model(runtime, owner, name="Quiet Lake", published=True)
    adult = create_model(runtime, owner, name="Night Club", published=True)
    with runtime.db.transaction() as session:
        session.execute(update(Model).where(Model.id == adult.id).values(nsfw=True))
    assert "Quiet Lake" in client.get("/models", headers=HTML).text
    assert "Night Club" not in client.get("/models", headers=HTML).text
    log_in(client, reader)
    assert "Night Club" not in client.get("/models", headers=HTML).text
    with runtime.db.transaction() as session:
        session.execute(update(User).where(User.id == reader.id).values(browsing_level=1 | 4))
    listed = client.get("/models", headers=HTML).text
    assert "Night Club" in listed and "Quiet Lake" in listed
    assert safe.id != adult.id
