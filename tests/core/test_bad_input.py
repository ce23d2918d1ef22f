"""Bad input at the edge: ids past what an id column holds, NUL characters, oversized and malformed bodies. Each
is a clear 4xx that changes nothing, never a 500, whoever asks (issue 14)."""

from __future__ import annotations

import dataclasses
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import func, select
from starlette.routing import Route

from modelyard.accounts.models import Role, User
from modelyard.catalog.models import Tag
from modelyard.core.csrf import CSRF_COOKIE
from modelyard.core.http import SessionDep
from modelyard.core.inbound import MULTIPART_SLACK, UploadRoutes
from modelyard.core.params import ID_MAX
from modelyard.flags.models import FeatureFlag
from modelyard.images.models import Post
from tests.images.test_posts import png
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user, log_in, with_csrf
from tests.support.live_server import live_server

HUGE = "99999999999999999999"  # past SQLite's 2^63
PAST_INT4 = str(ID_MAX + 1)  # past PostgreSQL's integer
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def _routes(app: FastAPI) -> Iterator[tuple[str, set[str], Any]]:
    """(path template, methods, route) for every route of the app: JSON API, /api/v1, pages, hot reads."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, (APIRoute, Route)) and context.path is not None:
            yield context.path, set(context.methods or ()), route


def _params(dependant: Any, *, path: bool = True) -> Iterator[Any]:
    """The path and query parameters of an endpoint and of its dependencies."""
    if path:
        yield from dependant.path_params
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _params(sub, path=path)


def _integer_schemas(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            yield schema
        for value in schema.values():
            yield from _integer_schemas(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _integer_schemas(value)


def _bounds(metadata: list[Any]) -> dict[str, int]:
    """Bounds given by `Query(ge=1, le=...)`, which live in the field's metadata rather than its annotation."""
    found = {}
    for item in metadata:
        for name, key in (("ge", "minimum"), ("gt", "exclusiveMinimum"), ("le", "maximum"), ("lt", "exclusiveMaximum")):
            if getattr(item, name, None) is not None:
                found[key] = getattr(item, name)
    return found


def _within_int4(schema: dict[str, Any]) -> bool:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    return low is not None and high is not None and low >= -(2**31) and high <= ID_MAX + 1


def test_every_integer_in_a_path_or_query_string_is_bounded(app: FastAPI) -> None:
    # A new route with a bare `int` id (or limit, offset, page...) fails here: use modelyard.core.params.Id, or
    # Query(ge=..., le=...) for a count.
    unbounded = []
    seen = 0
    for path, methods, route in _routes(app):
        if not isinstance(route, APIRoute):
            continue
        for param in _params(route.dependant):
            info = param.field_info
            schema = TypeAdapter(Any if info.annotation is None else info.annotation).json_schema()
            for integer in _integer_schemas(schema):
                seen += 1
                if not _within_int4({**_bounds(info.metadata), **integer}):
                    unbounded.append(f"{sorted(methods)} {path}: {param.name}")
    assert seen > 40  # it really looked at the ids
    assert unbounded == []


def test_no_route_reads_the_body_of_a_get(app: FastAPI) -> None:
    # The edge checks no body of a GET, HEAD or OPTIONS request (core.inbound.READ_METHODS): none may be read.
    readers = [
        path
        for path, methods, route in _routes(app)
        if isinstance(route, APIRoute) and route.body_field is not None and methods & {"GET", "HEAD", "OPTIONS"}
    ]
    assert readers == []


@pytest.fixture
def admin_client(client: TestClient, runtime) -> TestClient:  # type: ignore[no-untyped-def]
    admin = create_user(runtime, role=Role.admin)
    create_model(runtime, admin, published=True)
    return log_in(client, admin)


def _probes(app: FastAPI, value: str) -> Iterator[tuple[str, str]]:
    """(method, URL) with one parameter at a time set to a number no id column holds: every path parameter, every
    query parameter FastAPI reads and every one the OpenAPI description documents (v1 parses its own)."""
    documented = {
        (path, method.upper()): [p["name"] for p in operation.get("parameters", ()) if p["in"] == "query"]
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
    }
    for template, methods, route in _routes(app):
        plain = _PATH_PARAM.sub("x", template)
        names = _PATH_PARAM.findall(template)
        queries = (
            {param.alias for param in _params(route.dependant, path=False)} if isinstance(route, APIRoute) else set()
        )
        for method in sorted(methods - {"HEAD"}):
            for name in names:
                yield method, _PATH_PARAM.sub(lambda m, n=name: value if m.group(1) == n else "x", template)
            for query in queries | set(documented.get((_openapi_path(template), method), ())):
                yield method, f"{plain}?{query}={value}"


def _openapi_path(template: str) -> str:
    return re.sub(r"{([^}:]+):[^}]+}", r"{\1}", template)


@pytest.mark.parametrize("value", [HUGE, PAST_INT4])
@pytest.mark.parametrize("caller", ["anonymous", "admin"])
def test_no_id_past_the_columns_range_makes_a_server_error(
    app: FastAPI, client: TestClient, caller: str, value: str, request: pytest.FixtureRequest
) -> None:
    if caller == "admin":
        client = request.getfixturevalue("admin_client")
    failures = []
    sent = 0
    for method, url in _probes(app, value):
        if url.startswith("/files/"):
            continue  # signed storage URLs: no ids, and the signature is checked first
        response = client.request(method, url)
        sent += 1
        if response.status_code >= 500:
            failures.append(f"{method} {url}: {response.status_code}")
    assert sent > 150
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        (f"/api/v1/models?ids={HUGE}", 400),  # Civitai's answer to a request it cannot read
        (f"/api/v1/models?ids=1,{HUGE}", 400),
        (f"/api/v1/models?modelVersionIds={PAST_INT4}", 400),
        (f"/api/v1/models/{HUGE}", 400),
        (f"/api/models/{HUGE}", 422),
        (f"/api/models/{PAST_INT4}", 422),
        (f"/api/uploads/{HUGE}", 422),
        (f"/models/{HUGE}", 422),
        (f"/moderation/transitions?before={HUGE}", 422),
        (f"/moderation/transitions?model={HUGE[:12]}", 200),  # a filter box: no model can match
    ],
)
def test_an_id_out_of_range_is_refused(admin_client: TestClient, url: str, status: int) -> None:
    response = admin_client.get(url)
    assert response.status_code == status, response.text
    if url.startswith("/api/v1/"):
        assert f"between 1 and {ID_MAX}" in response.json()["error"]


# --- NUL characters -----------------------------------------------------------------------------------------


def _refused_for_nul(response: Any) -> bool:
    body = response.json()
    return response.status_code == 400 and "NUL" in (body.get("detail") or body.get("error") or "")


@pytest.mark.parametrize(
    "url",
    [
        "/api/users/a%00b",
        "/api/users/a%00b/avatar",
        "/api/admin/users?q=a%00b",
        "/api/v1/models?query=a%00b",
        "/models?q=%00",
    ],
)
def test_a_nul_in_the_address_is_refused(admin_client: TestClient, url: str) -> None:
    response = admin_client.get(url, headers={"accept": "application/json"})
    assert _refused_for_nul(response), response.text


def test_a_nul_in_a_json_body_is_refused_and_changes_nothing(client: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/auth/signup", json={"username": "nully", "email": "a\x00b@example.com", "password": "x" * 20}
    )
    assert _refused_for_nul(response), response.text
    assert client.post("/api/auth/login", json={"login": "a\x00b", "password": "x" * 20}).status_code == 400
    assert client.post("/api/auth/password-reset", json={"email": "a\x00b@example.com"}).status_code == 400
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(client: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    owner = create_user(runtime)
    made = create_model(runtime, owner)
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    # JSON `"\\u0000"`: a backslash, then the text u0000. `"\\\u0000"`: a backslash, then a NUL.
    kept = client.patch(f"/api/models/{made.id}", json={"description": "C:\\u0000"}, headers=headers)
    assert kept.status_code == 200, kept.text
    assert kept.json()["description"] == "C:\\u0000"
    refused = client.patch(
        f"/api/models/{made.id}",
        content=b'{"description": "C:\\\\\\u0000"}',
        headers={**headers, "content-type": "application/json"},
    )
    assert _refused_for_nul(refused), refused.text


def test_a_nul_in_a_form_is_refused_before_anything_reads_it(client: TestClient) -> None:
    with_csrf(client)
    token = client.cookies[CSRF_COOKIE]
    response = client.post(
        "/login",
        content=f"csrf_token={token}&login=a%00b&password=x".encode(),
        headers={"content-type": "application/x-www-form-urlencoded", "accept": "text/html"},
    )
    assert response.status_code == 400
    assert "NUL" in response.text


def test_a_nul_in_a_multipart_text_field_is_refused_but_files_keep_theirs(client: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_post=False)
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    url = f"/api/model-versions/{made.version_ids[0]}/posts"
    image = png()
    assert b"\x00" in image  # binary files hold NULs
    refused = client.post(url, files=[("images", ("a.png", image))], data={"title": "a\x00b"}, headers=headers)
    assert _refused_for_nul(refused), refused.text
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 0
    kept = client.post(url, files=[("images", ("a.png", image))], data={"title": "Samples"}, headers=headers)
    assert kept.status_code == 201, kept.text


def test_a_nul_in_a_multipart_field_split_across_chunks_is_found(client: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_post=False)
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"  # as browsers make them: the case matters
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + png()
        + (f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\na').encode()
        + b"\x00b"
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def trickle() -> Iterator[bytes]:  # a chunked body, seven bytes at a time: delimiters and headers get cut
        for at in range(0, len(body), 7):
            yield body[at : at + 7]

    response = client.post(
        f"/api/model-versions/{made.version_ids[0]}/posts",
        content=trickle(),
        headers={**headers, "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert _refused_for_nul(response), response.text


@pytest.mark.scaled_only
def test_a_nul_the_database_refuses_is_a_400_and_rolls_back(runtime) -> None:  # type: ignore[no-untyped-def]
    # The backstop for a NUL the edge cannot see: PostgreSQL's refusal is the caller's mistake, not a 500.
    from modelyard.app import create_app

    app = create_app(runtime=runtime)

    @app.post("/test-only/nul")
    def write_nul(session: SessionDep) -> None:
        session.add(Tag(name="kept-until-the-nul"))
        session.flush()
        session.add(Tag(name="a" + chr(0) + "b"))
        session.flush()

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.post("/test-only/nul")
    assert _refused_for_nul(response), response.text
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Tag)) == 0


# --- bodies -------------------------------------------------------------------------------------------------

MIB = 1024 * 1024


def test_a_json_body_past_the_limit_is_refused_by_its_length(client: TestClient) -> None:
    response = client.post("/api/auth/login", content=b" " * (MIB + 1), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    no_type = client.post("/api/auth/login", content=b" " * (MIB + 1))  # parsed as JSON: the same limit
    assert no_type.status_code == 413


def test_a_chunked_body_is_counted_as_it_streams(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"login": "'
        for _ in range(20):
            yield b"a" * 65536
        yield b'", "password": "x"}'

    response = client.post("/api/auth/login", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_a_form_body_past_the_limit_is_refused(client: TestClient) -> None:
    response = client.post(
        "/login",
        content=b"login=" + b"a" * (256 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("url", "content_type"),
    [
        ("/api/auth/login", "application/octet-stream"),
        ("/api/auth/login", "multipart/form-data; boundary=x"),
        ("/login", "multipart/form-data; boundary=x"),
        ("/api/v1/model-versions/by-hash", "image/png"),
    ],
)
def test_a_big_body_is_no_upload_where_no_file_is_taken(client: TestClient, url: str, content_type: str) -> None:
    # FastAPI reads any body of an endpoint with parameters whole into memory, whatever its content type says:
    # only an endpoint that takes uploads may be sent one as large as an upload.
    response = client.post(url, content=b"\x00" * (2 * MIB), headers={"content-type": content_type})
    assert response.status_code == 413, response.text


def test_an_endpoint_that_reads_its_upload_itself_takes_a_big_body(client: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    # PUT /api/account/avatar reads the body itself (marked READS_UPLOAD), with its own 8 MB limit; clients send
    # the image with or without a content type.
    headers = {"Authorization": f"Bearer {create_api_key(runtime, create_user(runtime))}"}
    for extra in ({}, {"content-type": "image/png"}):
        response = client.put("/api/account/avatar", content=b"\x00" * (2 * MIB), headers={**headers, **extra})
        assert response.status_code != 413 and 400 <= response.status_code < 500, response.text
    too_big = client.put("/api/account/avatar", content=b"\x00" * (9 * MIB), headers=headers)
    assert too_big.status_code == 413
    assert "8 MB" in too_big.json()["detail"]  # the endpoint's own limit, not the edge's


def test_a_huge_body_is_refused_before_it_is_sent(app: FastAPI) -> None:
    # Over a real socket: the 413 comes back while the client has sent only its headers.
    with live_server(app, lifespan="off") as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(
                b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 104857600\r\n\r\n{"
            )
            answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_streamed_upload_past_the_limit_is_cut_off(runtime) -> None:  # type: ignore[no-untyped-def]
    from modelyard.app import create_app

    small = dataclasses.replace(runtime, settings=runtime.settings.model_copy(update={"direct_upload_max_bytes": 4096}))
    owner = create_user(runtime)
    made = create_model(runtime, owner, with_post=False)
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'--b\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\n\r\n'
        for _ in range(100):
            yield b"\x00" * 65536
        yield b"\r\n--b--\r\n"

    with TestClient(create_app(runtime=small), raise_server_exceptions=False) as test_client:
        response = test_client.post(
            f"/api/model-versions/{made.version_ids[0]}/posts",
            content=chunks(),
            headers={**headers, "content-type": "multipart/form-data; boundary=b"},
        )
    assert response.status_code == 413, response.text
    assert response.json()["limit"] == 4096 + MULTIPART_SLACK


def test_signed_file_uploads_are_not_limited_at_the_edge(client: TestClient) -> None:
    # Raw upload parts, streamed to storage: their signature and signed size decide (core.storage.routes).
    response = client.put(
        "/files/uploads/x?sig=bad", content=b"\x00" * (2 * MIB), headers={"content-type": "application/json"}
    )
    assert response.status_code != 413
    assert response.status_code < 500


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"a":' * 100_000, b'{"login": 1' + b"0" * 5000 + b"}", b'{"login": 1e99999, "password": 1}'],
    ids=["deep-array", "deep-object", "huge-integer", "huge-float"],
)
@pytest.mark.parametrize("url", ["/api/auth/login", "/api/v1/model-versions/by-hash"])
def test_deep_or_huge_json_is_a_client_error(client: TestClient, url: str, body: bytes) -> None:
    response = client.post(url, content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    if url.startswith("/api/v1/"):
        assert response.status_code == 400 and set(response.json()) == {"error"}


def test_an_id_in_a_body_past_the_columns_range_is_refused(admin_client: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    # Found by the fuzzer: PostgreSQL kept 43192734369830310000 in the flag's JSON and read it back as a float,
    # which no page of flags could show again (500).
    response = admin_client.post("/api/admin/flags", json={"name": "too-far", "user_ids": [43192734369830310000]})
    assert response.status_code == 422, response.text
    assert admin_client.get("/api/admin/flags").status_code == 200
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(FeatureFlag)) == 0


def test_the_endpoints_that_take_uploads_are_found(app: FastAPI) -> None:
    uploads = UploadRoutes(app)
    for method, path in [
        ("POST", "/api/model-versions/7/files"),
        ("POST", "/api/model-versions/7/posts"),
        ("PUT", "/api/account/avatar"),
        ("POST", "/model-versions/7/files"),
        ("POST", "/account/avatar"),
    ]:
        assert uploads.match(method, path), path
    for method, path in [("POST", "/api/auth/login"), ("GET", "/api/account/avatar"), ("POST", "/login")]:
        assert not uploads.match(method, path), path
