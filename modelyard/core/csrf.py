"""CSRF protection for browser requests (double-submit token).

Every browser gets a random token in an HttpOnly cookie; pages render it into forms (`csrf_token` field) and
into `hx-headers` for htmx (`X-CSRF-Token`). A state-changing request must present the same token when it could
have been forged by another site, which is when:
- it carries cookies (a logged-in browser), or
- its content type is one a cross-site HTML form can send (urlencoded, multipart, text/plain) — this covers
  log-in and sign-up forms, whose forgery would log a victim into the attacker's account.
Requests that present an API key (Authorization header or `?token=`, as `presented_api_key` decides) are exempt:
a forging site can neither add that header nor know the victim's key, so such a request can only act as the key
it presents. It must never act as the browser's session: the guard records its verdict in the request
(`scope["state"]["csrf_verdict"]`), and the auth layer reads or sets the session cookie of a state-changing
request only when the verdict says the token was checked (`check_session_use`). Both layers ask the same
`presented_api_key`, so a value one reads as "no key" (`?token=null`) cannot exempt a request the other then
serves as the cookie's; should they ever disagree, the request is refused, not served. JSON requests without
cookies are exempt: browsers only send them cross-site after a CORS preflight we do not grant.
"""

from __future__ import annotations

import enum
import hmac
import secrets
from collections.abc import Iterable
from urllib.parse import parse_qs, parse_qsl

from starlette.requests import cookie_parser
from starlette.responses import Response
from starlette.types import Receive, Scope

from modelyard.core.errors import BadRequest, Forbidden, PayloadTooLarge
from modelyard.core.inbound import read_body, replay
from modelyard.core.runtime import Runtime

CSRF_COOKIE = "modelyard_csrf"
CSRF_HEADER = b"x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
_TOKEN_LENGTH = 43  # secrets.token_urlsafe(32)
VERDICT = "csrf_verdict"
# What real clients send when they have no key: `Bearer None`, an empty `token=`…
_PLACEHOLDERS = frozenset({"", "none", "null", "undefined", "false", "0"})


class CsrfRefused(Forbidden):
    code = "csrf_failed"


class Verdict(enum.StrEnum):
    """Why the guard let a state-changing request through (safe methods get none)."""

    checked = "checked"  # it came with the browser's token
    unforgeable = "unforgeable"  # no cookies and no form body: no other site can make a browser send it
    api_key = "api-key"  # it presents an API key, and may act as that key only


def presented_api_key(scope: Scope) -> str | None:
    """The API key a request presents, or None. Civitai's rule: the second word of the Authorization header
    (scheme unchecked), else `?token=`; placeholders (`null`, `0`, an empty value… in any case, with any
    surrounding whitespace) are no key. The one decision both the CSRF guard and the auth layer use. Two
    Authorization headers or two `token` parameters are refused (BadRequest) rather than one of them picked."""
    headers = [value for name, value in scope.get("headers", ()) if name == b"authorization"]
    if len(headers) > 1:
        raise BadRequest("Send one Authorization header")
    if headers:
        parts = headers[0].decode("latin-1").split()
        token = parts[1] if len(parts) >= 2 else None
    else:
        raw: bytes = scope.get("query_string", b"")
        # Parsed only when it may hold `token` (a name may be percent-encoded): most requests carry no key.
        query = parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if b"token" in raw or b"%" in raw else []
        values = [value for name, value in query if name == "token"]
        if len(values) > 1:
            raise BadRequest("Send one token parameter")
        token = values[0] if values else None
    return None if token is None or token.strip().lower() in _PLACEHOLDERS else token


def check_session_use(scope: Scope, *, to_set: bool = False) -> None:
    """Raise CsrfRefused unless this request may act as the browser's session (read its session cookie) or, with
    `to_set`, give the browser a session or take it away (log in, sign up, log out). Safe methods may. A
    state-changing request may only when the guard checked its token; one no other site could send (no cookies,
    no form body) may also log in. A request exempted for presenting an API key never may, nor one the guard
    never saw."""
    if scope["method"] in SAFE_METHODS:
        return
    verdict = scope.get("state", {}).get(VERDICT)
    if verdict == Verdict.checked or (to_set and verdict == Verdict.unforgeable):
        return
    if verdict == Verdict.api_key:
        raise CsrfRefused("A request that presents an API key acts as that key, never as the browser's log-in")
    raise CsrfRefused("The form's security token is missing or out of date. Reload the page and try again.")


class CsrfGuard:
    """Run by `modelyard.core.edge.EdgeMiddleware` on every HTTP request, before the app sees it."""

    def __init__(self, runtime: Runtime) -> None:
        self.secure = runtime.settings.secure_cookies
        # The edge's body limit for forms has already refused longer ones; this bounds what is buffered here.
        self.max_form_bytes = runtime.settings.request_form_max_bytes

    def assign_token(self, scope: Scope) -> bool:
        """Put the browser's token, or a fresh one, in `scope["state"]["csrf_token"]` (pages render it). True
        when it is fresh: the response should then give it to the browser (see `cookie_for`)."""
        token = _cookies(scope).get(CSRF_COOKIE, "")
        fresh = len(token) != _TOKEN_LENGTH
        scope.setdefault("state", {})["csrf_token"] = secrets.token_urlsafe(32) if fresh else token
        return fresh

    async def admit(self, scope: Scope, receive: Receive) -> Receive:
        """Refuse a request that could be forged but does not present the token given by `assign_token` (raises
        CsrfRefused, or PayloadTooLarge for an oversized form). Returns the `receive` the app must use: a form
        body read here to find the token is replayed."""
        if scope["method"] in SAFE_METHODS:
            return receive
        state = scope.setdefault("state", {})
        if presented_api_key(scope) is not None:
            state[VERDICT] = Verdict.api_key
            return receive
        headers = dict(scope.get("headers", ()))
        if not _forgeable(headers, _cookies(scope)):
            state[VERDICT] = Verdict.unforgeable
            return receive
        presented = headers.get(CSRF_HEADER, b"").decode("latin-1") or _query_token(scope)
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if not presented and content_type.startswith("application/x-www-form-urlencoded"):
            body = await read_body(receive, self.max_form_bytes)
            if body is None:
                raise PayloadTooLarge("The form is too large")
            presented = parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [""])[0]
            receive = replay(body, receive)
        token: str = scope["state"]["csrf_token"]
        if not (presented and hmac.compare_digest(presented.encode(), token.encode())):
            raise CsrfRefused("The form's security token is missing or out of date. Reload the page and try again.")
        state[VERDICT] = Verdict.checked
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


def _cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies exactly as the app reads them (`Request.cookies`: every Cookie header, through
    Starlette's parser). A stricter parser (SimpleCookie) gives up on a malformed cookie placed before the
    session's, and would see no cookies where the app finds a log-in."""
    cookies: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            cookies.update(cookie_parser(value.decode("latin-1")))
    return cookies


def _forgeable(headers: dict[bytes, bytes], cookies: dict[str, str]) -> bool:
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
