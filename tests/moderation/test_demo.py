"""The demo shows moderation working: a report waiting for the moderators, images waiting in the rating game, and
demo accounts old enough to play it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from modelyard.core.runtime import Runtime
from modelyard.images.models import Image
from modelyard.moderation.demo import GAME_IMAGES, REPORTED_CREATOR, REPORTER
from modelyard.moderation.game.models import GameQueueItem
from modelyard.moderation.models import Report, ReportStatus
from tests.support.demo import load_demo_catalog
from tests.support.factories import log_in

HTML = {"Accept": "text/html"}


def test_the_demo_has_a_case_and_a_game_to_play(runtime: Runtime, client: TestClient) -> None:
    catalog = load_demo_catalog(runtime)
    with runtime.db.session() as session:
        case = session.scalars(select(Report)).one()
        assert case.status == ReportStatus.Pending and case.entity_type == "image"
        image = session.get(Image, case.entity_id)
        assert image is not None and image.user_id == catalog.user(REPORTED_CREATOR).id
        queued = session.scalars(select(GameQueueItem.image_id)).all()
        assert len(queued) == GAME_IMAGES
    log_in(client, catalog.user("demo-mod"))
    dashboard = client.get("/moderation", headers=HTML)
    assert dashboard.status_code == 200 and f"/moderation/cases/{case.id}" in dashboard.text
    log_in(client, catalog.user(REPORTER))
    game = client.get("/game", headers=HTML)
    assert game.status_code == 200 and "You cannot play yet" not in game.text
