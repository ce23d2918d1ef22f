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
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.types import Message, Receive, Scope

from modelyard.core.errors import Forbidden, PayloadTooLarge
from modelyard.core.runtime import Runtime

CSRF_COOKIE = "modelyard_csrf"
CSRF_HEADER = b"x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
MAX_FORM_BYTES = 256 * 1024
_TOKEN_LENGTH = 43  # secrets.token_urlsafe(32)


class CsrfRefused(Forbidden):
    code = "csrf_failed"


class CsrfGuard:
    """Run by `modelyard.core.edge.EdgeMiddleware` on every HTTP request, before the app sees it."""

    def __init__(self, runtime: Runtime) -> None:
        self.secure = runtime.settings.secure_cookies

    def assign_token(self, scope: Scope) -> bool:
        """Put the browser's token, or a fresh one, in `scope["state"]["csrf_token"]` (pages render it). True
        when it is fresh: the response should then give it to the browser (see `cookie_for`)."""
        raw = dict(scope.get("headers", ())).get(b"cookie")
        token = _cookies(raw).get(CSRF_COOKIE, "") if raw is not None else ""
        fresh = len(token) != _TOKEN_LENGTH
        scope.setdefault("state", {})["csrf_token"] = secrets.token_urlsafe(32) if fresh else token
        return fresh

    async def admit(self, scope: Scope, receive: Receive) -> Receive:
        """Refuse a request that could be forged but does not present the token given by `assign_token` (raises
        CsrfRefused, or PayloadTooLarge for an oversized form). Returns the `receive` the app must use: a form
        body read here to find the token is replayed."""
        if scope["method"] in SAFE_METHODS:
            return receive
        headers = dict(scope.get("headers", ()))
        cookies = _cookies(headers[b"cookie"]) if b"cookie" in headers else {}
        if not _forgeable(scope, headers, cookies):
            return receive
        presented = headers.get(CSRF_HEADER, b"").decode("latin-1") or _query_token(scope)
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if not presented and content_type.startswith("application/x-www-form-urlencoded"):
            body = await _read_body(receive)
            if body is None:
                raise PayloadTooLarge("The form is too large")
            presented = parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [""])[0]
            receive = _replay(body)
        token: str = scope["state"]["csrf_token"]
        if not (presented and hmac.compare_digest(presented.encode(), token.encode())):
            raise CsrfRefused("The form's security token is missing or out of date. Reload the page and try again.")
        return receive

    def cookie_for(self, token: str, response_headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
        """The Set-Cookie value giving the browser a new token, on HTML pages only: API responses go to
        clients that keep no cookies."""
        for name, value in response_headers:
            if name == b"content-type":
                return _cookie_header(token, self.secure) if value.startswith(b"text/html") else None
        return None


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
