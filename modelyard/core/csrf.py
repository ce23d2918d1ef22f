"""CSRF protection for browser requests (double-submit token).

Every browser gets a random token in an HttpOnly cookie; pages render it into forms (`csrf_token` field) and
into `hx-headers` for htmx (`X-CSRF-Token`). A state-changing request must present the same token when it could
have been forged by another site, which is when:
- it carries cookies (a logged-in browser), or
- its content type is one a cross-site HTML form can send (urlencoded, multipart, text/plain) — this covers
  log-in and sign-up forms, whose forgery would log a victim into the attacker's account.
Requests authenticated by an API key (Authorization header or `?token=`) are exempt: a forging site can neither
add that header nor know the victim's key. JSON requests without cookies are exempt: browsers only send them
cross-site after a CORS preflight we do not grant.
"""

from __future__ import annotations

import hmac
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.core.http import error_response
from modelyard.core.runtime import Runtime

CSRF_COOKIE = "modelyard_csrf"
CSRF_HEADER = b"x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
MAX_FORM_BYTES = 256 * 1024
_TOKEN_LENGTH = 43  # secrets.token_urlsafe(32)


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.secure = runtime.settings.secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        cookies = _cookies(headers[b"cookie"]) if b"cookie" in headers else {}
        token = cookies.get(CSRF_COOKIE, "")
        if len(token) != _TOKEN_LENGTH:
            token = secrets.token_urlsafe(32)
            send = self._set_cookie_on_pages(send, token)
        scope.setdefault("state", {})["csrf_token"] = token
        if scope["method"] in SAFE_METHODS or not _forgeable(scope, headers, cookies):
            await self.app(scope, receive, send)
            return
        presented = headers.get(CSRF_HEADER, b"").decode("latin-1") or _query_token(scope)
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if not presented and content_type.startswith("application/x-www-form-urlencoded"):
            body = await _read_body(receive)
            if body is None:
                await _refuse(scope, receive, send, 413, "payload_too_large", "The form is too large")
                return
            presented = parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [""])[0]
            receive = _replay(body)
        if not (presented and hmac.compare_digest(presented.encode(), token.encode())):
            await _refuse(
                scope,
                receive,
                send,
                403,
                "csrf_failed",
                "The form's security token is missing or out of date. Reload the page and try again.",
            )
            return
        await self.app(scope, receive, send)

    def _set_cookie_on_pages(self, send: Send, token: str) -> Send:
        """Give the browser its token with the first HTML page; API responses (clients that keep no cookies)
        carry no cookie."""
        cookie = _cookie_header(token, self.secure)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", ())).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    message.setdefault("headers", []).append((b"set-cookie", cookie))
            await send(message)

        return send_with_cookie


def _cookie_header(token: str, secure: bool) -> bytes:
    carrier = Response()
    carrier.set_cookie(CSRF_COOKIE, token, max_age=365 * 86400, path="/", secure=secure, httponly=True, samesite="lax")
    return carrier.headers["set-cookie"].encode("latin-1")


def _cookies(raw: bytes) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except Exception:  # noqa: BLE001 - a malformed Cookie header means no usable cookie, not an error
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _forgeable(scope: Scope, headers: dict[bytes, bytes], cookies: dict[str, str]) -> bool:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if headers.get(b"authorization") or query.get("token"):
        return False
    if any(name != CSRF_COOKIE for name in cookies):
        return True
    # Without cookies a forged request acts as nobody, except that a forged log-in form would sign the victim
    # into the attacker's account: so form content types still need the token.
    content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
    return content_type.startswith(FORM_TYPES)


def _query_token(scope: Scope) -> str:
    # Multipart forms (file uploads) carry the token in the action URL: their bodies are not buffered here.
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(CSRF_FIELD)
    return values[0] if values else ""


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, detail: str) -> None:
    response: Response = error_response(Request(scope), status, {"error": code, "detail": detail})
    await response(scope, receive, send)
