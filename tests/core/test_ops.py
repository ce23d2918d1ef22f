from __future__ import annotations

import json
import logging

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from modelyard.core.errors import Conflict
from modelyard.core.jobs import enqueue
from modelyard.core.runtime import Runtime
from tests.support.factories import METRICS_HEADERS


def test_healthz_answers_without_touching_dependencies(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_lists_every_dependency(client: TestClient, runtime: Runtime) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    expected = {"database", "storage"} | ({"redis"} if runtime.redis is not None else set())
    assert set(body["checks"]) == expected
    assert body["failed"] == []


def test_readyz_names_a_broken_storage(client: TestClient, runtime: Runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from modelyard.core.errors import ServiceUnavailable

    def broken() -> None:
        raise ServiceUnavailable("storage: bucket gone")

    monkeypatch.setattr(runtime.storage, "check", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["storage"]
    assert "bucket gone" in response.json()["checks"]["storage"]["error"]


def test_metrics_count_requests_by_route_template(client: TestClient, runtime: Runtime) -> None:
    def not_found_count() -> float:
        prefix = 'modelyard_http_requests_total{method="GET",route="/api/users/{username}",status="404"} '
        lines = [
            line
            for line in client.get("/metrics", headers=METRICS_HEADERS).text.splitlines()
            if line.startswith(prefix)
        ]
        return float(lines[0].removeprefix(prefix)) if lines else 0.0

    before = not_found_count()
    client.get("/api/users/nobody-1")
    client.get("/api/users/nobody-2")
    assert not_found_count() == before + 2  # two URLs, one series: labelled by the route template
    assert "modelyard_http_request_duration_seconds_bucket" in client.get("/metrics", headers=METRICS_HEADERS).text


def test_metrics_report_jobs_by_state_and_queue_depth(client: TestClient, runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        enqueue(session, "tests.record_effect", token="m")
    text = client.get("/metrics", headers=METRICS_HEADERS).text
    assert 'modelyard_jobs{state="pending"} 1.0' in text
    assert 'modelyard_job_queue_depth{kind="ready"} 1.0' in text


class TestErrors:
    @pytest.fixture
    def error_client(self, runtime: Runtime):  # type: ignore[no-untyped-def]
        from modelyard.app import create_app

        app = create_app(runtime=runtime)
        router = APIRouter()

        @router.get("/api/test/conflict")
        def conflict() -> None:
            raise Conflict("Model 3 is Published; allowed: Unpublished, UnpublishedViolation, Deleted")

        @router.get("/api/test/number/{n}")
        def number(n: int) -> dict[str, int]:
            return {"n": n}

        app.include_router(router)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client

    def test_app_error_becomes_its_status_and_code(self, error_client: TestClient) -> None:
        response = error_client.get("/api/test/conflict")
        assert response.status_code == 409
        assert response.json() == {
            "error": "conflict",
            "detail": "Model 3 is Published; allowed: Unpublished, UnpublishedViolation, Deleted",
        }

    def test_bad_parameter_is_a_422_naming_the_field(self, error_client: TestClient) -> None:
        response = error_client.get("/api/test/number/seven")
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "validation_error"
        assert body["fields"][0]["field"] == "path.n"

    def test_unknown_api_path_is_json_404(self, client: TestClient) -> None:
        response = client.get("/api/nothing-here", headers={"accept": "text/html"})
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"

    def test_request_id_is_echoed_when_sane_and_replaced_when_not(self, client: TestClient) -> None:
        assert client.get("/healthz", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
        replaced = client.get("/healthz", headers={"x-request-id": "bad id!"}).headers["x-request-id"]
        assert replaced != "bad id!" and len(replaced) == 32


def test_logs_are_json_lines_with_the_request_id(client: TestClient, caplog) -> None:  # type: ignore[no-untyped-def]
    from modelyard.core.logging import JsonFormatter

    with caplog.at_level(logging.INFO, logger="modelyard.access"):
        response = client.get("/healthz")
    record = next(r for r in caplog.records if r.name == "modelyard.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["status"] == 200 and line["route"] == "/healthz" and line["duration_ms"] >= 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-metrics-token-at-all"},
        {"Authorization": f"Bearer {METRICS_HEADERS['Authorization'].split()[1]}x"},
        {"Authorization": METRICS_HEADERS["Authorization"].split()[1]},  # the token without its scheme
        {"Authorization": f"Basic {METRICS_HEADERS['Authorization'].split()[1]}"},
    ],
)
def test_metrics_answer_only_the_configured_token(client: TestClient, headers: dict[str, str]) -> None:
    """/metrics names routes, volumes and queue depths: behind a token, answering like a path that is not there."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 404 and "modelyard_http" not in response.text
    assert response.json() == {"error": "not_found", "detail": "Nothing at /metrics"}  # as for any unknown path
    assert client.get("/no-such-path").json()["detail"] == "Nothing at /no-such-path"
    assert client.get(f"/metrics?token={METRICS_HEADERS['Authorization'].split()[1]}").status_code == 404
    assert client.get("/metrics", headers=METRICS_HEADERS).status_code == 200


def test_metrics_are_off_when_no_token_is_configured(runtime: Runtime) -> None:
    import dataclasses

    from modelyard.app import create_app
    from modelyard.core.runtime import set_runtime

    off = dataclasses.replace(runtime, settings=runtime.settings.model_copy(update={"metrics_token": None}))
    try:
        client = TestClient(create_app(runtime=off), raise_server_exceptions=False)  # no lifespan: shared runtime
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", headers=METRICS_HEADERS).status_code == 404
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    finally:
        set_runtime(runtime)
