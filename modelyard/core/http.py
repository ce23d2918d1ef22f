"""The HTTP boundary: the session dependency that commits, the request-id/metrics middleware, error handlers."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.core.errors import AppError, ServiceUnavailable
from modelyard.core.logging import request_id_var
from modelyard.core.runtime import Runtime

log = logging.getLogger("modelyard.http")
access_log = logging.getLogger("modelyard.access")

T = TypeVar("T")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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
    """For hot endpoints: `await db.run(work)` runs `work(session)` and the commit in ONE thread-pool hop.

    An `async def` endpoint using it costs one hop; a sync endpoint with `SessionDep` costs three (the
    endpoint, FastAPI's response validation, the commit), ~100 µs each under load.
    """

    def __init__(self, request: Request) -> None:
        self.runtime = runtime_of(request)
        self.write = _writes(request)

    async def run(self, work: Callable[[Session], T]) -> T:
        return await run_in_threadpool(self._run, work)

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


class RequestContextMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware cost): request id, access log line, metrics by route template."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.metrics = runtime.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        # Not a secret, just unique: getrandbits is ten times cheaper than uuid4's os.urandom.
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else f"{random.getrandbits(128):032x}"
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend((b"set-cookie", cookie) for cookie in scope["state"].get(_PENDING_COOKIES, ()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answered here rather than by Starlette's outer ServerErrorMiddleware, so the 500 carries the
            # request id header and is counted and logged like any other response.
            if response_started:
                raise
            response = await _unexpected(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            template = _route_label(scope)
            self.metrics.observe_request(scope["method"], template, status, elapsed)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)


_PENDING_COOKIES = "modelyard.pending_cookies"


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
    request.scope.setdefault("state", {}).setdefault(_PENDING_COOKIES, []).append(
        carrier.headers["set-cookie"].encode("latin-1")
    )


def _route_label(scope: Scope) -> str:
    """The route template a request matched, so metrics have one series per route, not per URL."""
    route = scope.get("route")  # set by FastAPI's APIRoute
    if route is not None:
        return str(getattr(route, "path_format", None) or route.path)
    mounted = scope.get("root_path", "")[len(scope.get("app_root_path", "")) :]
    if mounted:  # a Mount (/static)
        return f"{mounted}/{{path}}"
    if "endpoint" in scope:  # a plain Starlette Route (/docs, /openapi.json): a fixed path unless it has params
        return "other" if scope.get("path_params") else str(scope["path"])
    return "unmatched"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


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
    return JSONResponse(body, status_code=status, headers=headers)


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return error_response(request, exc.status_code, exc.body(), exc.headers)


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
    return await _unexpected(request, exc)


async def _redis_error(request: Request, exc: Exception) -> Response:
    log.warning("redis unavailable", exc_info=exc)
    return await _app_error(request, _unavailable("cache and queue server (Redis)"))


async def _unexpected(request: Request, exc: Exception) -> Response:
    request_id = _request_id(request)
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    body = {
        "error": "internal_error",
        "detail": "Something went wrong on our side; it has been logged.",
        "request_id": request_id,
    }
    return error_response(request, 500, body)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    try:
        import redis.exceptions

        app.add_exception_handler(redis.exceptions.ConnectionError, _redis_error)
        app.add_exception_handler(redis.exceptions.TimeoutError, _redis_error)
    except ImportError:
        pass
    # Anything else is answered by RequestContextMiddleware as a 500 with the request id.
