"""The catalog's pages cost a fixed number of SQL statements, whatever the number of versions, files, images or
models they show: each page is rendered for a small and a large catalog and the statements counted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from modelyard.accounts.models import User
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model
from modelyard.core.runtime import Runtime
from modelyard.images.models import Image
from tests.catalog.test_pages import log_in_page, view
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import UserFixture, create_user

# What a page may cost: the log-in session and its user, then the page's own few queries.
MODEL_PAGE_BOUND = 10
DASHBOARD_BOUND = 6
BROWSE_BOUND = 6
SEARCH_THREADS = ("search-applier", "search-applier-later", "search-embedder")
IMAGES_PER_POST = 3


@contextmanager
def counting(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        # The search index's own threads apply the fixtures' changes meanwhile; they are not the page's cost.
        if not threading.current_thread().name.startswith(SEARCH_THREADS):
            statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", record)


def statements_for(client: TestClient, runtime: Runtime, path: str) -> list[str]:
    """The statements of one rendering, after a first one (a log-in session is touched on its first use)."""
    assert view(client, path).status_code == 200
    with counting(runtime) as statements:
        response = view(client, path)
    assert response.status_code == 200, response.text
    return statements


def showcase_model(runtime: Runtime, owner: UserFixture, versions: int) -> ModelFixture:
    """A published model whose versions each have a file and a post of several images."""
    made = create_model(runtime, owner, versions=versions, published=False)
    with runtime.db.transaction() as session:
        for post_id in made.post_ids:
            session.add_all(
                Image(
                    user_id=owner.id,
                    post_id=post_id,
                    index=n,
                    storage_key=f"images/{post_id}-{n}.webp",
                    width=8,
                    height=8,
                )
                for n in range(1, IMAGES_PER_POST)
            )
        model = session.get(Model, made.id)
        assert model is not None
        lifecycle.publish_model(session, model, session.get(User, owner.id))
    return made


def test_the_model_page_does_not_grow_with_its_versions(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    small, large = showcase_model(runtime, owner, 2), showcase_model(runtime, owner, 12)
    for who in ("visitor", "owner"):
        if who == "owner":
            log_in_page(client, owner)
        counts = []
        for made in (small, large):
            last_tab = f"/models/{made.id}?modelVersionId={made.version_ids[0]}"
            for path in (f"/models/{made.id}", last_tab):
                counts.append(len(statements_for(client, runtime, path)))
        assert len(set(counts)) == 1, f"{who}: {counts}"
        assert counts[0] <= MODEL_PAGE_BOUND, f"{who}: {counts[0]} statements"
    page = view(client, f"/models/{large.id}")
    assert page.text.count('class="version-tab"') == 12 and page.text.count("<figure") == IMAGES_PER_POST


def test_the_dashboard_does_not_grow_with_the_models(client: TestClient, runtime: Runtime) -> None:
    few, many = create_user(runtime), create_user(runtime)
    for owner, count in ((few, 3), (many, 40)):
        for n in range(count):
            create_model(
                runtime, owner, name=f"Model {n}", with_files=n % 2 == 0, with_post=False, published=n % 2 == 0
            )
    counts = []
    for owner in (few, many):
        client.cookies.clear()
        log_in_page(client, owner)
        for path in ("/my/models", "/my/models?status=Published"):
            counts.append(len(statements_for(client, runtime, path)))
    assert len(set(counts)) == 1 and counts[0] <= DASHBOARD_BOUND, counts
    assert view(client, "/my/models").text.count('class="model-cell"') == 40


def test_browsing_does_not_grow_with_the_page(client: TestClient, runtime: Runtime) -> None:
    owner = create_user(runtime)
    create_model(runtime, owner, name="Only one", published=True)
    alone = len(statements_for(client, runtime, "/models"))
    for n in range(20):
        create_model(runtime, owner, name=f"Many {n}", versions=2, published=True)
    crowded = statements_for(client, runtime, "/models")
    assert len(crowded) == alone and alone <= BROWSE_BOUND, (alone, len(crowded))
    assert view(client, "/models").text.count('class="model-card"') == 21
