"""The HTTP boundary: the session dependency that commits, error responses and their handlers, and the registry
through which domains render errors their own way (the site's error page, an API's error shape)."""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.orm import Session
from starlette.applications import Starlette
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


# Set in the scope of a HEAD request, which the app sees as a GET (`core.edge`).
HEAD_REQUEST = "modelyard.head"


def is_head(request: Request) -> bool:
    """Whether the client sent HEAD: it gets the GET's status and headers, and no body. A route whose GET does
    work beyond answering (counting a download, reading a file) skips it for a HEAD."""
    return bool(request.scope.get(HEAD_REQUEST))


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


# --- how errors are rendered ------------------------------------------------------------------------------------
# Core answers every error in the JSON API's shape, and a browser with a plain page. What a domain knows better
# it registers on the app: the site's styled error page (`modelyard.web`), the Civitai-shaped errors of its
# compatible API (`modelyard.api_v1`).

ErrorPage = Callable[[Request, int, dict[str, Any], dict[str, str] | None], Response]


@dataclass(frozen=True)
class ApiErrorShape:
    """How the errors of every path under `prefix` look: `render(status, body, headers)` turns the JSON API's
    body into the response, and `body_model` is what the published OpenAPI documents for their 4xx answers
    (with `unreadable_status` in place of 422 when the API answers a request it cannot read with another)."""

    prefix: str
    render: Callable[[int, dict[str, Any], dict[str, str] | None], Response]
    body_model: type[BaseModel]
    unreadable_status: int = 422


@dataclass
class ErrorRenderers:
    page: ErrorPage | None = None
    apis: list[ApiErrorShape] = field(default_factory=list)


def error_renderers(app: Starlette) -> ErrorRenderers:
    renderers: ErrorRenderers | None = getattr(app.state, "error_renderers", None)
    if renderers is None:
        renderers = app.state.error_renderers = ErrorRenderers()
    return renderers


def register_error_page(app: Starlette, render: ErrorPage) -> None:
    """The HTML page a browser gets for an error. It must not raise; if it does anyway, the plain page answers."""
    error_renderers(app).page = render


def register_api_errors(app: Starlette, shape: ApiErrorShape) -> None:
    """Errors under `shape.prefix` in that API's own shape; registering a prefix again replaces it."""
    renderers = error_renderers(app)
    renderers.apis = [known for known in renderers.apis if known.prefix != shape.prefix] + [shape]


def _api_shape(request: Request, path: str) -> ApiErrorShape | None:
    app = request.scope.get("app")
    if app is None:
        return None
    return next((shape for shape in error_renderers(app).apis if path.startswith(shape.prefix)), None)


def error_response(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    if wants_html(request):
        return _error_page(request, status, body, headers)
    shape = _api_shape(request, request.url.path)
    if shape is not None:
        return shape.render(status, body, headers)
    return JSONResponse(body, status_code=status, headers=headers)


def _error_page(request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None) -> Response:
    app = request.scope.get("app")
    render = error_renderers(app).page if app is not None else None
    if render is not None:
        try:
            return render(request, status, body, headers)
        except Exception:  # the fallback must answer whatever broke the page; the first error stays the answer
            log.exception("error page failed to render", extra={"status": status})
    return plain_error_page(status, body, headers)


_PLAIN_TITLES = {401: "Sign in required", 403: "Access denied", 404: "Page not found", 429: "Slow down"}


def plain_error_page(
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    *,
    title: str | None = None,
    site: str | None = None,
) -> HTMLResponse:
    """A bare HTML error page that needs nothing (no template, no database): what a browser gets when the site's
    own page is not there or failed."""
    title = title or _PLAIN_TITLES.get(status) or ("Something went wrong" if status >= 500 else "Request failed")
    detail = html.escape(str(body.get("detail") or "")) or "The request could not be completed."
    request_id = html.escape(str(body.get("request_id") or ""))
    request_line = f"<p>Request id: <code>{request_id}</code></p>" if request_id else ""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(f'{title} · {site}' if site else title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{detail}</p>{request_line}"
        '<p><a href="/">Go to the home page</a></p></body></html>'
    )
    return HTMLResponse(page, status_code=status, headers=headers)


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
    """Errors of the Civitai-compatible endpoints, in Civitai's shape: the API under `/api/v1/` (whose renderer
    `modelyard.api_v1` registers) and the download endpoint the catalog serves, which both document it."""

    error: str = Field(description="What went wrong, for a person to read")


_SCHEMA_REF = "#/components/schemas/{model}"
_FASTAPI_422 = _SCHEMA_REF.format(model="HTTPValidationError")
_ERROR_BODIES: tuple[type[BaseModel], ...] = (ErrorBody, FieldProblem, ValidationErrorBody)


def document_errors(app: FastAPI) -> None:
    """Make the published OpenAPI say what the error handlers above send: FastAPI documents every 422 as its own
    `HTTPValidationError` (`{detail: [{loc, msg, type}]}`), which no response here has. The API shapes
    registered on the app (`register_api_errors`) are read when the document is built, so they may come later."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        return _with_error_bodies(build(), error_renderers(app).apis)

    app.openapi = openapi  # type: ignore[method-assign]


def _with_error_bodies(schema: dict[str, Any], shapes: list[ApiErrorShape]) -> dict[str, Any]:
    """Give every documented error response of `schema` the body the handlers send, unless its route declared
    one itself (the Civitai-shaped refusals of downloads do). In place: FastAPI caches the document, so this runs
    again on one it already rewrote, and changes nothing then."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (*_ERROR_BODIES, *(shape.body_model for shape in shapes)):
        components[model.__name__] = model.model_json_schema(ref_template=_SCHEMA_REF)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        shape = next((shape for shape in shapes if path.startswith(shape.prefix)), None)
        for operation in operations.values():
            _document_responses(operation.get("responses", {}), shape)
    return schema


def _document_responses(responses: dict[str, Any], shape: ApiErrorShape | None) -> None:
    if shape is not None and shape.unreadable_status != 422 and "422" in responses:
        responses.setdefault(str(shape.unreadable_status), {"description": "The request could not be read"})
        del responses["422"]
    responses.setdefault("4XX", {"description": "Refused: the body says why"})
    for status, response in responses.items():
        declared = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
        if status[0] == "4" and declared in (None, _FASTAPI_422):
            if shape is not None:
                body = shape.body_model.__name__
            else:
                body = "ValidationErrorBody" if status == "422" else "ErrorBody"
            response["content"] = {"application/json": {"schema": {"$ref": _SCHEMA_REF.format(model=body)}}}


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
