"""PostgreSQL or Redis going away: /readyz names it, requests answer 503 with a clear message, and the service
recovers by itself when it comes back. The outage is real: connections go through a proxy that is cut."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from modelyard.core.bootstrap import build_runtime
from modelyard.core.http import RuntimeDep
from modelyard.core.runtime import Runtime, set_runtime
from modelyard.core.settings import Settings
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.scaled_only


@pytest.fixture
def proxies() -> Iterator[dict[str, TcpProxy]]:
    pair = {"database": TcpProxy(5432), "redis": TcpProxy(6379)}
    for proxy in pair.values():
        proxy.start()
    yield pair
    for proxy in pair.values():
        proxy.stop()


@pytest.fixture
def proxied(runtime: Runtime, settings: Settings, proxies: dict[str, TcpProxy]) -> Iterator[TestClient]:
    from modelyard.app import create_app

    assert settings.database_url and settings.redis_url
    proxied_settings = settings.model_copy(
        update={
            "database_url": settings.database_url.replace(":5432/", f":{proxies['database'].port}/"),
            "redis_url": settings.redis_url.replace(":6379/", f":{proxies['redis'].port}/"),
        }
    )
    other = build_runtime(proxied_settings)
    app = create_app(runtime=other)
    router = APIRouter()

    @router.get("/api/test/cached")
    def cached(rt: RuntimeDep) -> Any:
        return rt.cache.get_or_set("outage-probe", lambda: {"ok": True}, tags=["probe"])

    app.include_router(router)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client
    finally:
        other.close()
        set_runtime(runtime)


def _eventually(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_database_outage_is_named_refused_with_503_and_recovered(
    proxied: TestClient, proxies: dict[str, TcpProxy]
) -> None:
    assert proxied.get("/api/users/someone").status_code == 404  # the database answers
    proxies["database"].stop()

    ready = proxied.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["database"]
    response = proxied.get("/api/users/someone")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["error"] == "service_unavailable"
    assert "database" in response.json()["detail"]

    proxies["database"].start()

    def recovered() -> None:
        assert proxied.get("/readyz").status_code == 200
        assert proxied.get("/api/users/someone").status_code == 404

    _eventually(recovered)


def test_redis_outage_is_named_refused_with_503_and_recovered(
    proxied: TestClient, proxies: dict[str, TcpProxy]
) -> None:
    assert proxied.get("/api/test/cached").json() == {"ok": True}
    proxies["redis"].stop()

    ready = proxied.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["redis"]
    proxied.app.state.runtime.cache.local.entries.clear()  # type: ignore[attr-defined]
    response = proxied.get("/api/test/cached")
    assert response.status_code == 503
    assert "Redis" in response.json()["detail"]

    proxies["redis"].start()

    def recovered() -> None:
        assert proxied.get("/readyz").status_code == 200
        assert proxied.get("/api/test/cached").json() == {"ok": True}

    _eventually(recovered)


def test_job_enqueued_while_redis_is_down_is_sent_when_it_returns(
    proxied: TestClient, proxies: dict[str, TcpProxy]
) -> None:
    from modelyard.core.jobs import Job, enqueue
    from modelyard.core.jobs.runner import reap

    other: Runtime = proxied.app.state.runtime  # type: ignore[attr-defined]
    proxies["redis"].stop()
    with other.db.transaction() as session:
        job_id = enqueue(session, "tests.record_effect", token="while-down").id  # commit succeeds
    with other.db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.sent_at is None  # the failed send was noticed
    proxies["redis"].start()

    def sent() -> None:
        assert reap(other) >= 1 or other.queue.depth() >= 1
        assert other.queue.depth() >= 1

    _eventually(sent)
