from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelyard.flags import service


@pytest.fixture
def client(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    # No timed flush during a test: exposures reach the database when the test flushes (or the app stops).
    monkeypatch.setattr(service, "FLUSH_SECONDS", 3600.0)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as test_client:
        yield test_client
