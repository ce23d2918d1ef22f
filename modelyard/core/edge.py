"""What every HTTP request passes through on its way in and out, in one pure-ASGI layer.

In order: a request id (echoed when the client sent a sane one), the per-IP rate limit, the checks on what
the request brings in (body size limits, no NUL character: `core.inbound`), the CSRF check, the app; on the
way out one pass over the response headers adds the rate-limit quota, a new CSRF cookie (pages only), the
request id, cookies set with `set_cookie_later`, and the security headers a route did not set itself; then one
metric and one access-log line. An exception the app lets through becomes a 500 carrying the
request id, counted and logged like any response.

HEAD is answered here for every route: the app sees a GET (so every GET route, page and API alike, answers HEAD
with the same status and headers), and the body is dropped on the way out. Uptime monitors and link checkers
send HEAD; FastAPI routes a GET route's HEAD nowhere (405). A route that must not do a GET's work for a HEAD
(count a download, read a file) asks `core.http.is_head`.

One layer rather than four middlewares because each layer costs a coroutine call and a `send` wrapper on
every request (decision 0007).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.core import forwarded
from modelyard.core.csrf import CsrfGuard
from modelyard.core.errors import AppError
from modelyard.core.http import HEAD_REQUEST, PENDING_COOKIES, error_response, unexpected_error
from modelyard.core.inbound import InboundGuard
from modelyard.core.logging import request_id_var
from modelyard.core.ratelimit import IpRateLimit
from modelyard.core.runtime import Runtime
from modelyard.core.security_headers import security_headers

access_log = logging.getLogger("modelyard.access")

Headers = list[tuple[bytes, bytes]]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.settings = runtime.settings
        self.forwarded = forwarded.ForwardedHeaders(runtime.settings.forwarded_allow_ips)
        self.metrics = runtime.metrics
        self.rate_limit = IpRateLimit(runtime)
        self.inbound = InboundGuard(runtime.settings)
        self.csrf = CsrfGuard(runtime)
        self.security_headers = security_headers(runtime.settings)
        self.security_names = frozenset(name for name, _ in self.security_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("//"):
            # Clients that join a base URL ending in "/" with a path starting with one ask for "//api/v1/...".
            scope["path"] = "/" + scope["path"].lstrip("/")
            scope["raw_path"] = scope["path"].encode()
        self.forwarded.apply(scope)  # a trusted proxy's X-Forwarded-* (core.forwarded)
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        method = scope["method"]
        if method == "HEAD":
            # A copy: the server reads its own scope's method to know the response has no body.
            scope = {**scope, "method": "GET", HEAD_REQUEST: True}
        context_token = request_id_var.set(request_id)
        base_token = forwarded.enter_request(scope, self.settings)
        started = time.perf_counter()
        reply = _Reply(self, scope, send, request_id, head=method == "HEAD")
        try:
            try:
                reply.quota = await self.rate_limit.spend(scope)
                reply.new_csrf_token = self.csrf.assign_token(scope)
                receive = await self.inbound.admit(scope, receive)  # before CSRF, which may read a form
                receive = await self.csrf.admit(scope, receive)
            except AppError as refusal:
                response = error_response(Request(scope), refusal.status_code, refusal.body(), refusal.headers)
                await response(scope, receive, reply)
            else:
                await self.app(scope, receive, reply)
        except Exception as exc:
            if reply.started:
                raise
            # Answered here rather than by Starlette's outer ServerErrorMiddleware, so the 500 carries the
            # request id header and is counted and logged like any other response.
            reply.quota, reply.new_csrf_token = [], False
            response = await unexpected_error(Request(scope), exc)
            await response(scope, receive, reply)
        finally:
            self._record(scope, method, reply.status, time.perf_counter() - started)
            request_id_var.reset(context_token)
            forwarded.leave_request(base_token)

    def response_headers(self, headers: Sequence[tuple[bytes, bytes]], reply: _Reply) -> Headers:
        """The app's headers plus this layer's, in one pass; a security header the app set itself wins."""
        present = {name.lower() for name, _ in headers}
        added = list(headers)
        if reply.new_csrf_token:
            cookie = self.csrf.cookie_for(reply.scope["state"]["csrf_token"], headers)
            if cookie is not None:
                added.append((b"set-cookie", cookie))
        added += reply.quota
        added.append((b"x-request-id", reply.request_id.encode()))
        added += [(b"set-cookie", cookie) for cookie in reply.scope["state"].get(PENDING_COOKIES, ())]
        if present.isdisjoint(self.security_names):
            added += self.security_headers
        else:
            added += [header for header in self.security_headers if header[0] not in present]
        return added

    def _record(self, scope: Scope, method: str, status: int, seconds: float) -> None:
        route = _route_label(scope)
        self.metrics.observe_request(method, route, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )


class _Reply:
    """The `send` the app answers through: completes the response's headers when it starts."""

    __slots__ = ("edge", "head", "new_csrf_token", "quota", "request_id", "scope", "send", "started", "status")

    def __init__(self, edge: EdgeMiddleware, scope: Scope, send: Send, request_id: str, *, head: bool) -> None:
        self.edge = edge
        self.head = head
        self.scope = scope
        self.send = send
        self.request_id = request_id
        self.quota: Headers = []
        self.new_csrf_token = False
        self.started = False
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
            message["headers"] = self.edge.response_headers(message.get("headers", ()), self)
        elif self.head and message["type"] == "http.response.body":
            if message.get("more_body", False):
                return  # a HEAD answer has headers only: the GET's body goes nowhere
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await self.send(message)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            incoming = str(value.decode("latin-1"))
            if _REQUEST_ID.match(incoming):
                return incoming
            break
    # Not a secret, just unique: getrandbits is ten times cheaper than uuid4's os.urandom.
    return f"{random.getrandbits(128):032x}"


def _route_label(scope: Scope) -> str:
    """The route template a request matched, so metrics have one series per route, not per URL."""
    route: Any = scope.get("route")  # set by FastAPI's APIRoute
    if route is not None:
        return str(getattr(route, "path_format", None) or route.path)
    mounted = scope.get("root_path", "")[len(scope.get("app_root_path", "")) :]
    if mounted:  # a Mount (/static)
        return f"{mounted}/{{path}}"
    if "endpoint" in scope:  # a plain Starlette Route (/docs, /openapi.json): a fixed path unless it has params
        return "other" if scope.get("path_params") else str(scope["path"])
    return "unmatched"
