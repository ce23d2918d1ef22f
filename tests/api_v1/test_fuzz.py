"""Fuzzing the v1 API from its own OpenAPI description with schemathesis: whatever the generated parameters and
bodies, no answer is a server error, and every error is in Civitai's `{"error": ...}` shape."""

from __future__ import annotations

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from tests.support.catalog import create_model
from tests.support.factories import create_user

EXAMPLES_PER_OPERATION = 40


def test_no_input_makes_the_v1_api_fail(app: FastAPI, runtime) -> None:  # type: ignore[no-untyped-def]
    owner = create_user(runtime)
    create_model(runtime, owner, published=True)  # something to find, so lookups reach the shaping code
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=r"^/api/v1/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    failures: list[str] = []
    calls: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call()
            calls.append(response.status_code)
            shaped = response.status_code < 400 or "error" in response.json()
            if response.status_code >= 500 or not shaped:
                failures.append(f"{case.method} {case.formatted_path} {case.query}: {response.status_code}")

        check()
    assert failures == [], failures[:10]
    assert len(calls) >= 5 * len(operations)  # it really sent requests, of more than one kind
    assert len(set(calls)) > 2
