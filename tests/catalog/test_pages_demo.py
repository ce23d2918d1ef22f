"""The pages over the demo catalog a new installation shows: every model page renders for who may see it, and
nothing unpublished leaks into the lists."""

from __future__ import annotations

from fastapi.testclient import TestClient

from modelyard.catalog.enums import ModelStatus
from modelyard.core.runtime import Runtime
from tests.support.demo import load_demo_catalog
from tests.support.factories import log_in

HTML = {"Accept": "text/html"}


def test_demo_catalog_pages(client: TestClient, runtime: Runtime) -> None:
    catalog = load_demo_catalog(runtime)
    published = catalog.named(ModelStatus.Published)
    hidden = [name for name in catalog.models if name not in published]
    assert published and hidden

    for name in published:
        page = client.get(f"/models/{catalog.model(name)}", headers=HTML)
        assert page.status_code == 200 and name in page.text
    for name in hidden:
        assert client.get(f"/models/{catalog.model(name)}", headers=HTML).status_code == 404

    listed = client.get("/models", headers=HTML).text + client.get("/", headers=HTML).text
    assert all(name not in listed for name in hidden)
    assert sum(name in listed for name in published) >= min(len(published), 8)

    name = hidden[0]
    log_in(client, catalog.owner_of(name))
    assert client.get(f"/models/{catalog.model(name)}", headers=HTML).status_code == 200
    dashboard = client.get("/my/models", headers=HTML).text
    assert name in dashboard
