"""What a request may bring in, checked at the edge before anything reads it: a body within the limit of its
kind, and no NUL character in any text.

Body limits (settings), by content type and by what the address takes:
- JSON, other text, and a body with no content type (FastAPI parses that as JSON): `request_json_max_bytes`;
- URL-encoded forms: `request_form_max_bytes`;
- multipart forms and other bodies (images, files) sent to an endpoint that takes uploads (one with a `File()`
  parameter, or marked `dependencies=[READS_UPLOAD]` because it reads the body itself):
  `direct_upload_max_bytes` plus `MULTIPART_SLACK`. Sent anywhere else they get the form or JSON limit: an
  endpoint that takes no file would read such a body whole into memory, whatever its content type says;
- none for the signed `/files/...` routes: raw upload parts streamed to storage, which check their own size.
A Content-Length over the limit is refused with a 413 before a byte is read. A body of unknown length is
counted as it arrives: JSON, text and URL-encoded forms are read here (they are small, and read whole by the app
anyway), the others are counted as the app reads them and cut off with a 413 at the limit.

NUL: PostgreSQL refuses it in any text, and no text here means to hold one, so it is refused with a 400 in the
path, the query string, URL-encoded forms, JSON (raw or as a `\\u0000` escape), other text bodies, and the
text fields of multipart forms. File parts of a multipart form keep theirs: binary files hold NULs.

On the hot path (decision 0007): a GET costs a look at the path and the query string (`bytes.find`, in C: about
0.3 µs); nothing reads a GET's body, so it is not looked for.
"""

from __future__ import annotations

import re
from typing import Any, Final

from fastapi import Depends, params
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope

from modelyard.core.errors import AppError, BadRequest, PayloadTooLarge
from modelyard.core.settings import Settings

MULTIPART_SLACK: Final = 1024**2  # part headers and the small fields that come with a file
UNLIMITED_PREFIXES: Final = ("/files/",)
READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_NUL_ESCAPE: Final = b"\\u0000"
_FILENAME = re.compile(rb";\s*filename\s*=", re.IGNORECASE)  # as Starlette tells a file from a field
_MAX_PART_HEADERS: Final = 16 * 1024
_BOUNDARY = re.compile(rb'boundary="?([^";]{1,200})"?', re.IGNORECASE)

JSON, FORM, MULTIPART, OTHER = "JSON", "form", "multipart", "other"


def reads_upload() -> None:
    """Marks an endpoint that reads a large body itself (`request.stream()`, `request.form()`) rather than
    through a `File()` parameter: `@router.put(..., dependencies=[READS_UPLOAD])`. The edge then lets its body be
    as large as an upload; the endpoint keeps its own, smaller limit."""


READS_UPLOAD = Depends(reads_upload)


class NulRefused(BadRequest):
    code = "nul_character"


class BodyTooLarge(PayloadTooLarge):
    pass


class RefusedWhileStreaming(StarletteHTTPException):
    """Raised from `receive` when a streamed body turns out to be refused. An HTTPException so that FastAPI's
    body reading passes it on (it answers any other exception with a vague 400); `core.http` renders
    `refusal` like any AppError."""

    def __init__(self, refusal: AppError) -> None:
        super().__init__(refusal.status_code, refusal.detail)
        self.refusal = refusal


def nul_refusal(where: str) -> NulRefused:
    return NulRefused(f"The {where} contains a NUL character (%00 or \\u0000), which no text may hold.")


class InboundGuard:
    """Run by `modelyard.core.edge.EdgeMiddleware` on every HTTP request, before the CSRF check and the app."""

    def __init__(self, settings: Settings) -> None:
        self.upload_limit = settings.direct_upload_max_bytes + MULTIPART_SLACK
        self.limits = {JSON: settings.request_json_max_bytes, FORM: settings.request_form_max_bytes}
        self.upload_routes: UploadRoutes | None = None  # found on the first body that may be an upload

    async def admit(self, scope: Scope, receive: Receive) -> Receive:
        """Refuse a NUL in the path or query string or a body too large for its kind (raises an AppError).
        Returns the `receive` the app must use: the body read here, replayed, or the stream, counted."""
        if "\x00" in scope["path"]:  # decoded: %00 is a NUL here
            raise nul_refusal("address")
        query = scope.get("query_string", b"")
        if query and (query.find(b"%00") != -1 or query.find(b"\x00") != -1):  # `find`: twice as fast as `in`
            raise nul_refusal("query string")
        if scope["method"] in READ_METHODS:
            return receive  # no route reads the body of a GET (nor of HEAD, OPTIONS): no need to look for one
        length, content_type = _body_headers(scope)
        if length == 0 or scope["path"].startswith(UNLIMITED_PREFIXES):
            return receive  # no Content-Length is no proof of no body: HTTP/2 sends none, nor does chunking
        kind = _kind(content_type)
        if kind in (MULTIPART, OTHER) or (kind == JSON and not content_type):
            if self._takes_uploads(scope):
                kind = MULTIPART if kind == MULTIPART else OTHER  # an untyped body there is the upload itself
                limit = self.upload_limit
            else:
                limit = self.limits[FORM if kind == MULTIPART else JSON]
        else:
            limit = self.limits[kind]
        if length is not None and length > limit:
            raise _too_large(kind, limit)
        if kind in (JSON, FORM):
            body = await read_body(receive, limit)
            if body is None:
                raise _too_large(kind, limit)
            _check_text(body, kind)
            return replay(body, receive)
        boundary = _boundary(content_type) if kind == MULTIPART else None
        return _CountedStream(receive, kind, limit, _MultipartTextScan(boundary) if boundary else None)

    def _takes_uploads(self, scope: Scope) -> bool:
        if self.upload_routes is None:
            # Every route is in place by the first request; only a body that may be an upload gets here.
            self.upload_routes = UploadRoutes(scope.get("app"))
        return self.upload_routes.match(scope["method"], scope["path"])


class UploadRoutes:
    """The endpoints of an app that take uploads: a `File()` parameter, or marked with READS_UPLOAD."""

    def __init__(self, app: Any) -> None:
        self.routes: list[tuple[set[str], re.Pattern[str]]] = []
        for context in iter_route_contexts(getattr(app, "routes", [])):
            route = context.original_route
            if isinstance(route, APIRoute) and _reads_uploads(route.dependant):
                self.routes.append((set(context.methods or ()), context.path_regex))

    def match(self, method: str, path: str) -> bool:
        return any(method in methods and pattern.match(path) for methods, pattern in self.routes)


def _reads_uploads(dependant: Any) -> bool:
    return any(isinstance(param.field_info, params.File) for param in dependant.body_params) or any(
        sub.call is reads_upload or _reads_uploads(sub) for sub in dependant.dependencies
    )


def _body_headers(scope: Scope) -> tuple[int | None, bytes]:
    length: int | None = None
    content_type = b""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                raise BadRequest("The Content-Length header is not a number") from None
        elif name == b"content-type":
            content_type = value
    return length, content_type


def _kind(content_type: bytes) -> str:
    media = content_type.split(b";", 1)[0].strip().lower()
    if media == b"application/x-www-form-urlencoded":
        return FORM
    if media == b"multipart/form-data":
        return MULTIPART
    if not media or media == b"application/json" or media.endswith(b"+json") or media.startswith(b"text/"):
        return JSON
    return OTHER


def _too_large(kind: str, limit: int) -> BodyTooLarge:
    what = {JSON: "a JSON or text body", FORM: "a form", MULTIPART: "a multipart form", OTHER: "this body"}[kind]
    return BodyTooLarge(f"The request body is larger than the {_size(limit)} allowed for {what} here", limit=limit)


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it passes `limit` bytes (what arrived is dropped)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _check_text(body: bytes, kind: str) -> None:
    if body.find(b"\x00") != -1:
        raise nul_refusal("request body")
    if kind == FORM and body.find(b"%00") != -1:
        raise nul_refusal("form")
    if kind == JSON and _has_nul_escape(body):
        raise nul_refusal("JSON body")


def _has_nul_escape(body: bytes) -> bool:
    """A `\\u0000` escape that is one: preceded by an even number of backslashes (`\\\\u0000` is a backslash
    followed by the text "u0000")."""
    at = body.find(_NUL_ESCAPE)
    while at != -1:
        backslashes = 0
        while at - backslashes - 1 >= 0 and body[at - backslashes - 1] == 0x5C:
            backslashes += 1
        if backslashes % 2 == 0:
            return True
        at = body.find(_NUL_ESCAPE, at + 1)
    return False


def replay(body: bytes, receive: Receive) -> Receive:
    """The body read here, then the connection's own messages (a disconnect, when the client goes)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _boundary(content_type: bytes) -> bytes | None:
    """The multipart boundary, as sent: it is case-sensitive."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        return None
    return match.group(1).strip() or None


class _CountedStream:
    """The app's `receive` for a streamed body: counts it against the limit, and looks for NULs in the text
    fields of a multipart form."""

    __slots__ = ("kind", "limit", "receive", "scan", "size")

    def __init__(self, receive: Receive, kind: str, limit: int, scan: _MultipartTextScan | None) -> None:
        self.receive = receive
        self.kind = kind
        self.limit = limit
        self.scan = scan
        self.size = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.size > self.limit:
                raise RefusedWhileStreaming(_too_large(self.kind, self.limit))
            if self.scan is not None and not self.scan.feed(chunk):
                raise RefusedWhileStreaming(nul_refusal("form field"))
        return message


class _MultipartTextScan:
    """Finds a NUL in the text fields of a multipart body as it streams past, without buffering it: one
    `bytes.find` for the boundary per chunk, plus `in` over the text fields' bytes. Parts with a filename are
    files and are skipped. A body it cannot follow (malformed) is left to the form parser to refuse."""

    __slots__ = ("delimiter", "in_headers", "is_text", "pending", "stopped")

    def __init__(self, boundary: bytes) -> None:
        self.delimiter = b"\r\n--" + boundary
        self.pending = b"\r\n"  # the first delimiter has no line break before it
        self.in_headers = False
        self.is_text = False  # the preamble is nobody's text
        self.stopped = False

    def feed(self, chunk: bytes) -> bool:
        """False when a text field holds a NUL."""
        if self.stopped:
            return True
        data = self.pending + chunk
        while True:
            if self.in_headers:
                end = data.find(b"\r\n\r\n")
                if end == -1:
                    if len(data) > _MAX_PART_HEADERS:
                        self.stopped = True
                    self.pending = data
                    return True
                self.is_text = _FILENAME.search(data[:end]) is None
                self.in_headers = False
                data = data[end + 4 :]
                continue
            at = data.find(self.delimiter)
            if at == -1:
                keep = len(self.delimiter) - 1  # the start of a delimiter cut by the chunk's end
                content, self.pending = data[:-keep] if len(data) > keep else b"", data[-keep:]
                return not (self.is_text and content.find(b"\x00") != -1)
            if self.is_text and data.find(b"\x00", 0, at) != -1:
                return False
            data = data[at + len(self.delimiter) :]
            self.in_headers = True  # the rest of the delimiter line ("--" at the end) has no blank line after
