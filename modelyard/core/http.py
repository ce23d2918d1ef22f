"""The HTTP boundary: the session dependency that commits, error responses and their handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelyard.core.errors import AppError, ServiceUnavailable
from modelyard.core.inbound import RefusedWhileStreaming, nul_refusal
from modelyard.core.logging import request_id_var
from modelyard.core.runtime import Runtime

log = logging.getLogger("modelyard.http")

T = TypeVar("T")


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _writes(request: Request) -> bool:
    return request.method not in ("GET", "HEAD", "OPTIONS")


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; the only place a request's work is committed (or rolled back, with the jobs,
    events and cache invalidations it queued).

    Async on purpose: making a session does no I/O (it connects on first use), so only the commit needs a
    thread-pool hop, and none at all when the request never touched the database.
    """
    write = _writes(request)
    session = runtime_of(request).db.session(write=write)
    session.info["writes"] = write
    try:
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):  # a dropped client must still give its connection back
            await _finish(session, commit=False)
        raise
    await _finish(session, commit=True)


async def _finish(session: Session, *, commit: bool) -> None:
    if not session.in_transaction():
        session.close()  # nothing was read or written: no I/O, no hop
        return
    await run_in_threadpool(_end, session, commit)


def _end(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


class RequestDb:
    """For hot endpoints: `await db.run(work)` runs `work(session)` and the commit in ONE thread-pool hop;
    `await db.read(work)` runs read-only `work(connection)` on a bare Connection in one hop.

    An `async def` endpoint using it costs one hop; a sync endpoint with `SessionDep` costs three (the
    endpoint, FastAPI's response validation, the commit), ~100 µs each under load. A Session costs ~80 µs more
    than a Connection on a point read (opening it, the ORM's execute path, the commit; decision 0007).
    """

    def __init__(self, request: Request) -> None:
        self.runtime = runtime_of(request)
        self.write = _writes(request)

    async def run(self, work: Callable[[Session], T]) -> T:
        return await run_in_threadpool(self._run, work)

    async def read(self, work: Callable[[Connection], T]) -> T:
        return await run_in_threadpool(self.runtime.db.read, work)

    def _run(self, work: Callable[[Session], T]) -> T:
        with self.runtime.db.transaction(write=self.write) as session:
            session.info["writes"] = self.write
            return work(session)


def model_response(model: BaseModel, *, status_code: int = 200) -> Response:
    """A Pydantic model as JSON, serialised once in pydantic-core. Returning a Response tells FastAPI to skip
    its own second validation of the value against `response_model` (which still documents the endpoint)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


# scope="function": commit before the response is sent, so a client never sees success for a failed commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
DbDep = Annotated[RequestDb, Depends(RequestDb)]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


PENDING_COOKIES = "modelyard.pending_cookies"


def set_cookie_later(
    request: Request,
    name: str,
    value: str,
    *,
    max_age: int,
    secure: bool,
    httponly: bool = True,
    samesite: Literal["lax", "strict", "none"] = "lax",
) -> None:
    """Set a cookie on whatever response this request ends with, even one a route builds itself (pages return
    their own HTMLResponse, errors come from handlers)."""
    carrier = Response()
    carrier.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=httponly, samesite=samesite)
    request.scope.setdefault("state", {}).setdefault(PENDING_COOKIES, []).append(
        carrier.headers["set-cookie"].encode("latin-1")
    )


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/files/")) or path in ("/healthz", "/readyz", "/metrics"):
        return False
    return "text/html" in request.headers.get("accept", "")


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or request_id_var.get() or "")


def error_response(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    if wants_html(request):
        from modelyard.web.templating import render_error_page

        return render_error_page(request, status, body, headers=headers)
    if request.url.path.startswith(CIVITAI_API_PREFIX):
        return civitai_error(status, body, headers)
    return JSONResponse(body, status_code=status, headers=headers)


CIVITAI_API_PREFIX = "/api/v1/"


def civitai_error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """Errors of the Civitai-compatible API in Civitai's shape, `{"error": message}`, which its clients parse:
    a request they could not read is a 400 there, and a crash keeps its request id."""
    shaped: dict[str, Any] = {"error": body.get("detail") or body.get("error") or "Request failed"}
    if status >= 500:
        shaped = {"message": "An unexpected error occurred", **shaped, "request_id": body.get("request_id")}
    return JSONResponse(
        shaped,
        status_code=400 if status == 422 else status,
        headers={**(headers or {}), "Access-Control-Allow-Origin": "*"},
    )


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return error_response(request, exc.status_code, exc.body(), exc.headers)


async def _refused_while_streaming(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RefusedWhileStreaming)
    return await _app_error(request, exc.refusal)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"Nothing at {request.url.path}"
    return error_response(request, exc.status_code, {"error": code, "detail": detail}, dict(exc.headers or {}))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]} for error in exc.errors()
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    body = {"error": "validation_error", "detail": f"Invalid request: {summary}", "fields": fields}
    return error_response(request, 422, body)


def _unavailable(part: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"The {part} is unreachable right now; try again in a few seconds.", part=part)


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        log.warning("database unavailable", exc_info=exc)
        return await _app_error(request, _unavailable("database"))
    if _refuses_nul(exc):
        # A backstop: the edge refuses NULs it can see (`core.inbound`); one that got past it (decoded from
        # base64, say) is still the caller's mistake, and the session's rollback has undone the request.
        log.warning("database refused a NUL character", extra={"path": request.url.path})
        return await _app_error(request, nul_refusal("request"))
    return await unexpected_error(request, exc)


def _refuses_nul(exc: DBAPIError) -> bool:
    """PostgreSQL refusing a NUL: psycopg before it sends a text parameter, or the server in text (22021) or in a
    `\\u0000` of JSON it turns into text (22P05)."""
    if not isinstance(exc, DataError):
        return False
    message, state = str(exc.orig), getattr(exc.orig, "sqlstate", None)
    return (
        "cannot contain NUL (0x00)" in message
        or (state == "22021" and "0x00" in message)
        or (state == "22P05" and "\\u0000" in message)
    )


async def _redis_error(request: Request, exc: Exception) -> Response:
    log.warning("redis unavailable", exc_info=exc)
    return await _app_error(request, _unavailable("cache and queue server (Redis)"))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    request_id = _request_id(request)
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    body = {
        "error": "internal_error",
        "detail": "Something went wrong on our side; it has been logged.",
        "request_id": request_id,
    }
    return error_response(request, 500, body)


class ErrorBody(BaseModel):
    """Every error of the JSON API (`AppError.body()`); some carry more, such as `field` or `request_id`."""

    error: str = Field(description="A stable code: not_found, validation_error, payload_too_large...")
    detail: str = Field(description="What went wrong, for a person to read")


class FieldProblem(BaseModel):
    field: str = Field(description="Where: `body.name`, `query.limit`, `path.model_id`")
    message: str


class ValidationErrorBody(ErrorBody):
    """A request the API could not accept as sent (422): what FastAPI found, one entry per field."""

    fields: list[FieldProblem] | None = None


class CivitaiErrorBody(BaseModel):
    """Every error of the Civitai-compatible API (`/api/v1/`), in Civitai's shape; a request it could not read
    is a 400 there, never a 422."""

    error: str = Field(description="What went wrong, for a person to read")


_SCHEMA_REF = "#/components/schemas/{model}"
_FASTAPI_422 = _SCHEMA_REF.format(model="HTTPValidationError")
_ERROR_BODIES: tuple[type[BaseModel], ...] = (ErrorBody, FieldProblem, ValidationErrorBody, CivitaiErrorBody)


def document_errors(app: FastAPI) -> None:
    """Make the published OpenAPI say what the error handlers above send: FastAPI documents every 422 as its own
    `HTTPValidationError` (`{detail: [{loc, msg, type}]}`), which no response here has."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        return _with_error_bodies(build())

    app.openapi = openapi  # type: ignore[method-assign]


def _with_error_bodies(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every documented error response of `schema` the body the handlers send, unless its route declared
    one itself (the Civitai-shaped refusals of downloads do). In place: FastAPI caches the document, so this runs
    again on one it already rewrote, and changes nothing then."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in _ERROR_BODIES:
        components[model.__name__] = model.model_json_schema(ref_template=_SCHEMA_REF)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        civitai = path.startswith(CIVITAI_API_PREFIX)
        for operation in operations.values():
            responses = operation.get("responses", {})
            if civitai and "422" in responses:
                responses.setdefault("400", {"description": "The request could not be read"})
                del responses["422"]
            responses.setdefault("4XX", {"description": "Refused: the body says why"})
            for status, response in responses.items():
                declared = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
                if status[0] == "4" and declared in (None, _FASTAPI_422):
                    body = "CivitaiErrorBody" if civitai else "ValidationErrorBody" if status == "422" else "ErrorBody"
                    response["content"] = {"application/json": {"schema": {"$ref": _SCHEMA_REF.format(model=body)}}}
    return schema


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RefusedWhileStreaming, _refused_while_streaming)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    try:
        import redis.exceptions

        app.add_exception_handler(redis.exceptions.ConnectionError, _redis_error)
        app.add_exception_handler(redis.exceptions.TimeoutError, _redis_error)
    except ImportError:
        pass
    # Anything else is answered by modelyard.core.edge.EdgeMiddleware as a 500 with the request id.
    document_errors(app)
