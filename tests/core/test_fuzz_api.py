"""Fuzzing the whole API from its own OpenAPI description with schemathesis: whatever the generated parameters and
bodies, and whoever asks (nobody, a user's Full API key, an admin's), no answer is a server error and every
answer has the content type and the body the description gives its status (errors included: every 4xx has one).
The database holds a model, its versions, files, an upload, a session, a spare key and a flag, all in the search
indexes, and a third of the cases aim their path parameters at those, so that lookups reach the code behind them.

In `make test` the examples are derandomized (the same every run) and few per operation; `make fuzz` runs many
more from a random seed it prints (`MODELYARD_FUZZ_EXAMPLES`, `MODELYARD_FUZZ_SEED`).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from sqlalchemy import select

from modelyard.accounts.models import Role
from modelyard.catalog.models import ModelFileHash
from modelyard.images.models import Image
from tests.images.test_feed import add_image
from tests.search.test_listing_search import index_all
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user

EXAMPLES = int(os.environ.get("MODELYARD_FUZZ_EXAMPLES", "8"))
SEED = os.environ.get("MODELYARD_FUZZ_SEED")  # unset: derandomized, the same examples on every run
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@dataclass
class Seeded:
    """What exists for the fuzzer to find: values it may put in path parameters, by name."""

    owner_key: str
    admin_key: str
    path_values: dict[str, Any]


def _seed(runtime, client: TestClient) -> Seeded:  # type: ignore[no-untyped-def]
    owner = create_user(runtime)
    admin = create_user(runtime, role=Role.admin)
    owner_key, admin_key = create_api_key(runtime, owner), create_api_key(runtime, admin)
    published = create_model(runtime, owner, published=True)
    draft = create_model(runtime, owner)
    as_owner = {"Authorization": f"Bearer {owner_key}"}
    upload = client.post(
        f"/api/model-versions/{draft.version_ids[0]}/uploads",
        json={"filename": "fuzz.safetensors", "size": 1024},
        headers=as_owner,
    )
    assert upload.status_code == 201, upload.text
    assert client.post("/api/auth/login", json={"login": owner.username, "password": owner.password}).status_code == 200
    sessions = client.get("/api/account/sessions", headers=as_owner).json()
    spare_key = client.post("/api/account/api-keys", json={"name": "spare"}, headers=as_owner)  # one to revoke
    assert spare_key.status_code == 201, spare_key.text
    flag = client.post("/api/admin/flags", json={"name": "fuzz-flag"}, headers={"Authorization": f"Bearer {admin_key}"})
    assert flag.status_code == 201, flag.text
    # Images and moderation: a published post of one image, and a report on the owner's model (a case).
    image_id = add_image(runtime, owner, meta={"prompt": "fuzz"})
    reporter_key = create_api_key(runtime, create_user(runtime))
    report = client.post(
        "/api/reports",
        json={"entity_type": "model", "entity_id": published.id, "reason": "TOSViolation"},
        headers={"Authorization": f"Bearer {reporter_key}"},
    )
    assert report.status_code == 201, report.text
    index_all(runtime)  # so that the search endpoints (`/api/search`, `query=`) find what was seeded
    with runtime.db.session() as session:
        post_id = session.scalar(select(Image.post_id).where(Image.id == image_id))
        file_hash = session.scalars(
            select(ModelFileHash.hash).where(ModelFileHash.file_id == published.file_ids[0])
        ).first()
    values = {
        "model_id": published.id,
        "version_id": published.version_ids[0],
        "file_id": published.file_ids[0],
        "upload_id": upload.json()["id"],
        "user_id": owner.id,
        "username": owner.username,
        "session_id": sessions[0]["id"],
        "key_id": spare_key.json()["id"],
        "hash_value": file_hash,
        "name": "fuzz-flag",
        "post_id": post_id,
        "image_id": image_id,
        "case_id": report.json()["id"],
    }
    return Seeded(owner_key, admin_key, values)


def _strategy(operation: Any, known: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Generated cases: valid input, invalid input (where schemathesis can make it), and valid input aimed at
    things that exist, a third each."""
    names = {parameter.name for parameter in operation.path_parameters}
    aimed = {name: value for name, value in known.items() if name in names}
    strategies = [operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    if aimed:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=aimed))
    return st.one_of(strategies)


@pytest.mark.parametrize("caller", ["anonymous", "user", "admin"])
def test_no_input_makes_the_api_fail_or_break_its_description(
    app: FastAPI, client: TestClient, runtime, caller: str
) -> None:  # type: ignore[no-untyped-def]
    seeded = _seed(runtime, client)
    key = {"anonymous": None, "user": seeded.owner_key, "admin": seeded.admin_key}[caller]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Deletions last, so that what was seeded is there for the other operations.
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()), key=lambda op: (op.method.upper() == "DELETE", op.path)
    )
    assert len(operations) >= 80
    failures: list[str] = []
    statuses: list[int] = []
    started = time.perf_counter()
    for operation in operations:

        @given(case=_strategy(operation, seeded.path_values))
        @settings(
            max_examples=EXAMPLES,
            derandomize=SEED is None,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],  # failures are collected below, not shrunk
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            statuses.append(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as group:
                query = repr(case.query)[:200] if case.query else ""
                failures.append(f"{case.method} {case.formatted_path} {query}: {group.exceptions[0]}")

        if SEED is not None:
            check = seed(int(SEED))(check)
        check()
    seconds = time.perf_counter() - started
    print(f"\nfuzz {caller}: {len(statuses)} requests in {seconds:.1f}s, seed {SEED or 'fixed'}: {Counter(statuses)}")
    assert failures == [], f"seed {SEED or 'fixed'}:\n" + "\n\n".join(failures[:10])
    assert len(statuses) >= len(operations)  # it really sent requests, of more than one kind
    assert len(set(statuses)) > 3


@pytest.mark.parametrize(
    ("method", "path", "case", "status"),
    [
        ("POST", "/api/auth/login", {"body": {}}, 422),
        ("GET", "/api/models/{model_id}", {"path_parameters": {"model_id": 0}}, 422),
        ("GET", "/api/models/{model_id}", {"path_parameters": {"model_id": 5}}, 404),
        ("POST", "/api/v1/model-versions/by-hash", {"body": {"not": "a list"}}, 400),
        ("GET", "/api/v1/models/{model_id}", {"path_parameters": {"model_id": "x"}}, 400),
        ("GET", "/api/download/models/{version_id}", {"path_parameters": {"version_id": 5}}, 404),
    ],
)
def test_an_error_is_the_body_its_description_documents(
    app: FastAPI, method: str, path: str, case: dict[str, Any], status: int
) -> None:
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)[path][method]
    made = operation.Case(**case)
    response = made.call()
    assert response.status_code == status
    assert str(status) in operation.definition.raw["responses"]  # documented, with a schema to match
    made.validate_response(response, checks=[response_schema_conformance, content_type_conformance])


def test_fastapis_own_validation_error_is_not_documented(app: FastAPI) -> None:
    # The server never sends `{detail: [{loc, msg, type}]}`; /api/v1 answers a request it cannot read with 400.
    spec = app.openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            if path.startswith("/api/v1/"):
                assert "422" not in operation["responses"]
            # Any refusal has a documented body, so the fuzzer checks every 4xx it gets.
            assert "schema" in operation["responses"]["4XX"]["content"]["application/json"]
