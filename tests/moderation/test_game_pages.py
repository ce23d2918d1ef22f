"""The rating game over HTTP: the page and its forms, the picture behind a ticket, the menu item, the JSON API."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from modelyard.accounts.models import Role
from modelyard.moderation.game.models import GameQueueItem, GameRating
from tests.catalog.test_pages import HTML, form, log_in_page, view
from tests.moderation.game_world import configure, picture, veteran
from tests.support.factories import create_api_key, create_user

TICKET = re.compile(r'name="ticket" value="([^"]+)"')


def test_the_page_shows_an_image_and_a_vote_through_it_counts(runtime, client: TestClient, monkeypatch):
    configure(monkeypatch, runtime)
    image_id = picture(runtime, create_user(runtime))
    player = veteran(runtime)
    log_in_page(client, player)
    page = view(client, "/game")
    assert page.status_code == 200, page.text
    for label in ("PG", "PG-13", "R", "X", "XXX", "Blocked"):
        assert f"</kbd> {label}" in page.text
    assert 'data-shortcut="6"' in page.text and "data-game-reveal" in page.text
    assert "Acolyte" in page.text
    assert "images/game/" not in page.text and f"/images/{image_id}" not in page.text  # the image goes unnamed
    ticket = TICKET.search(page.text).group(1)
    assert view(client, "/game").text.count(ticket) >= 2  # reloading keeps the same image

    picture_response = client.get(f"/game/picture/{ticket}")
    assert picture_response.status_code == 200 and picture_response.content[:4] == b"RIFF"
    assert "no-store" in picture_response.headers["cache-control"]

    answered = form(client, "/game/ratings", {"ticket": ticket, "level": "R"})
    assert answered.status_code == 303 and answered.headers["location"] == "/game?done=game-rated"
    with runtime.db.session() as session:
        rating = session.scalars(select(GameRating)).one()
        assert (rating.user_id, rating.image_id, rating.level) == (player.id, image_id, 4)
    assert client.get(f"/game/picture/{ticket}").status_code == 404  # answered: the picture is gone
    after = view(client, "/game?done=game-rated")
    assert "Your rating is in" in after.text and "nothing to rate" in after.text

    again = form(client, "/game/ratings", {"ticket": ticket, "level": "R"})  # the old form, sent twice
    assert again.status_code == 409 and "no longer yours" in again.text


def test_a_picture_is_only_for_the_player_it_was_drawn_for(runtime, client: TestClient, monkeypatch):
    configure(monkeypatch, runtime)
    picture(runtime, create_user(runtime))
    player, other = veteran(runtime), veteran(runtime)
    log_in_page(client, player)
    ticket = TICKET.search(view(client, "/game").text).group(1)
    client.cookies.clear()
    assert client.get(f"/game/picture/{ticket}").status_code == 404
    log_in_page(client, other)
    assert client.get(f"/game/picture/{ticket}").status_code == 404
    assert client.get("/game/picture/" + "x" * 5000).status_code == 404


def test_the_menu_offers_the_game_only_to_those_who_may_play(runtime, client: TestClient):
    newcomer, player = create_user(runtime), veteran(runtime)
    log_in_page(client, newcomer)
    assert 'href="/game"' not in view(client, "/").text
    refused = view(client, "/game")
    assert refused.status_code == 403 and "older than" in refused.text
    client.cookies.clear()
    log_in_page(client, player)
    assert 'href="/game"' in view(client, "/").text
    client.cookies.clear()
    assert view(client, "/game").headers["location"].startswith("/login")


def test_the_json_api_draws_and_takes_answers(runtime, client: TestClient, monkeypatch):
    configure(monkeypatch, runtime)
    image_id = picture(runtime, create_user(runtime))
    headers = {"Authorization": f"Bearer {create_api_key(runtime, veteran(runtime))}"}
    drawn = client.get("/api/game/next", headers=headers)
    assert drawn.status_code == 200, drawn.text
    body = drawn.json()
    assert body["levels"] == ["PG", "PG13", "R", "X", "XXX", "Blocked"] and body["player"]["rank"] == "Acolyte"
    assert body["image"]["url"] == f"/game/picture/{body['ticket']}" and "id" not in body["image"]
    assert client.get(body["image"]["url"], headers=headers).status_code == 200
    for bad in ({"ticket": body["ticket"], "level": "PG-14"}, {"ticket": "", "level": "R"}, {"level": "R"}):
        assert client.post("/api/game/ratings", json=bad, headers=headers).status_code == 422
    answered = client.post("/api/game/ratings", json={"ticket": body["ticket"], "level": "PG13"}, headers=headers)
    assert answered.status_code == 201 and answered.json()["decided"] is False
    again = client.post("/api/game/ratings", json={"ticket": body["ticket"], "level": "R"}, headers=headers)
    assert again.status_code == 409
    assert client.get("/api/game/next", headers=headers).json()["ticket"] is None
    with runtime.db.session() as session:
        assert session.get(GameQueueItem, image_id).votes == 1
    assert client.get("/api/game/leaderboard", headers=headers).status_code == 200
    newcomer = {"Authorization": f"Bearer {create_api_key(runtime, create_user(runtime))}"}
    assert client.get("/api/game/next", headers=newcomer).status_code == 403
    assert client.get("/api/game/next").status_code == 401


def test_moderators_queue_images(runtime, client: TestClient):
    owner = create_user(runtime)
    image_id = picture(runtime, owner, queued=False)
    moderator = {"Authorization": f"Bearer {create_api_key(runtime, create_user(runtime, role=Role.moderator))}"}
    member = {"Authorization": f"Bearer {create_api_key(runtime, veteran(runtime))}"}
    assert client.post("/api/game/queue", json={"image_id": image_id}, headers=member).status_code == 403
    assert client.post("/api/game/queue", json={"image_id": 2**31}, headers=moderator).status_code == 422
    assert client.post("/api/game/queue", json={"image_id": 2**31 - 1}, headers=moderator).status_code == 404
    assert client.post("/api/game/queue", json={"image_id": image_id}, headers=moderator).status_code == 204
    assert client.post("/api/game/queue", json={"image_id": image_id}, headers=moderator).status_code == 204
    with runtime.db.session() as session:
        item = session.get(GameQueueItem, image_id)
        assert item is not None and item.reason == "moderator"


def test_the_moderators_button_queues_through_a_form(runtime, client: TestClient):
    image_id = picture(runtime, create_user(runtime), queued=False)
    log_in_page(client, create_user(runtime, role=Role.moderator))
    sent = form(client, "/game/queue", {"image_id": str(image_id), "back": f"/posts/{image_id}"})
    assert sent.status_code == 303 and sent.headers["location"] == f"/posts/{image_id}?done=game-queued"
    assert form(client, "/game/queue", {"image_id": "99999999999999"}).status_code == 404
    with runtime.db.session() as session:
        assert session.get(GameQueueItem, image_id) is not None
    client.cookies.clear()
    log_in_page(client, veteran(runtime))
    assert form(client, "/game/queue", {"image_id": str(image_id)}).status_code == 403
    assert HTML  # the helpers post as a browser does
