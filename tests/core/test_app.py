"""The app's process-level start-up: only an app that owns its runtime (a web process) freezes its heap."""

from __future__ import annotations

import gc

from fastapi import FastAPI
from fastapi.testclient import TestClient


def test_an_app_given_a_runtime_leaves_the_garbage_collector_alone(app: FastAPI) -> None:
    # Frozen objects are never collected: tests and embedders starting apps again and again would leak.
    before = gc.get_freeze_count()
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == before
