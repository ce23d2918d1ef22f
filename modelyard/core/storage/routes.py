"""`/files/...`: the local backend's signed download and upload URLs (S3 serves its presigned URLs itself)."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, BinaryIO, cast
from urllib.parse import quote

import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from modelyard.core.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from modelyard.core.http import HEAD_REQUEST
from modelyard.core.storage.base import Storage, content_disposition
from modelyard.core.storage.local import LocalStorage

router = APIRouter()


def _local_storage(request: Request) -> LocalStorage:
    storage = request.app.state.runtime.storage
    if not isinstance(storage, LocalStorage):
        # With S3, file URLs point at the bucket; this path serves nothing.
        raise NotFound("files are not served by this server")
    return storage


LocalStorageDep = Annotated[LocalStorage, Depends(_local_storage)]


class _ModelFileResponse(FileResponse):
    """Starlette's FileResponse reading bigger chunks. Each chunk costs a hop to a thread and a pass through the
    middleware; at Starlette's 64 KiB those bound a large download (0.64 of nginx's throughput). 256 KiB reached
    nginx's, as 1 MiB did, with a third of the memory per concurrent download (bench/file_download.py)."""

    chunk_size = 256 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get(HEAD_REQUEST):  # the edge routes a HEAD as a GET: headers only, the file left unread
            scope = {**scope, "method": "HEAD"}
        await super().__call__(scope, receive, send)


def object_response(
    storage: Storage, key: str, *, headers: dict[str, str], media_type: str, head: bool = False
) -> Response:
    """A stored object as a response that was already allowed (a domain checked who may see it): the local file
    (handed to nginx behind `MODELYARD_ACCEL_REDIRECT_PREFIX`), or the bucket's bytes streamed through this
    server. For small objects that must keep one address (public images): a bucket's presigned URL changes on
    every signing, so a redirect to it could not be cached. `NotFound` when the object is gone."""
    if isinstance(storage, LocalStorage):
        file = storage.local_file(key)
        if storage.accel_redirect_prefix:
            accel = {**headers, "X-Accel-Redirect": storage.accel_redirect_prefix + quote(key)}
            return Response(headers=accel, media_type=media_type)
        return _ModelFileResponse(file.path, headers=headers, media_type=media_type, stat_result=file.stat_result)
    if head:
        stored = storage.stat(key)
        if stored is None:
            raise NotFound(f"file {key!r} not found")
        return Response(headers={**headers, "Content-Length": str(stored.size)}, media_type=media_type)
    return Response(storage.read_bytes(key), headers=headers, media_type=media_type)


@router.api_route("/{key:path}", methods=["GET", "HEAD"])
def download_file(key: str, request: Request, storage: LocalStorageDep) -> Response:
    """Download a file through a signed link made by the server (`expires`, `sig`, optional `filename`).

    Answers 403 when the link was altered or has expired. Supports `Range` (206, or 416 past the end of the
    file), `If-Range` and `HEAD`; with `filename` the file comes as an attachment of that name. Behind nginx
    (`MODELYARD_ACCEL_REDIRECT_PREFIX`), a checked link is handed to nginx, which sends the bytes.
    """
    signed = storage.verify_signed_request(request.method, key, request.query_params)
    file = storage.local_file(key)
    headers = {
        "ETag": f'"{file.object.etag}"',
        "Cache-Control": f"private, max-age={max(0, signed.expires - int(time.time()))}",
    }
    if signed.filename:
        headers["Content-Disposition"] = content_disposition(signed.filename)
    media_type = mimetypes.guess_type(signed.filename or key)[0] or "application/octet-stream"
    if storage.accel_redirect_prefix:
        headers["X-Accel-Redirect"] = storage.accel_redirect_prefix + quote(key)
        return Response(headers=headers, media_type=media_type)
    return _ModelFileResponse(file.path, headers=headers, media_type=media_type, stat_result=file.stat_result)


@router.put("/{key:path}")
async def upload_file(key: str, request: Request, storage: LocalStorageDep) -> JSONResponse:
    """Upload a file, or one part of a multipart upload, through a signed link made by the server.

    The body is the raw file content, streamed to storage; it must be exactly the size the link was made for
    (413 when longer, 400 when shorter, and nothing is kept). A link made for a content type requires that
    `Content-Type`. Answers `{"key", "size", "etag"}` with the `ETag` header; 403 when the link was altered
    or has expired.
    """
    signed = storage.verify_signed_request("PUT", key, request.query_params)
    if signed.size is None:  # every upload link is made for a size; this one predates that rule
        raise Forbidden("this upload link does not say how many bytes it takes; ask for a new one")
    if signed.content_type is not None and request.headers.get("content-type") != signed.content_type:
        raise Forbidden(f"this upload link requires Content-Type: {signed.content_type}")
    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit():
        _check_length(int(announced), signed.size)  # refused before a byte is read
    body = _RequestBody(request.stream(), expected=signed.size)
    if signed.upload_id is not None and signed.part_number is not None:
        etag = await anyio.to_thread.run_sync(
            storage.upload_part, key, signed.upload_id, signed.part_number, cast(BinaryIO, body)
        )
    else:
        save = partial(storage.save, key, cast(BinaryIO, body), content_type=signed.content_type)
        etag = (await anyio.to_thread.run_sync(save)).etag
    payload = {"key": key, "size": body.bytes_read, "etag": etag}
    return JSONResponse(payload, headers={"ETag": f'"{etag}"'})


def _check_length(sent: int, expected: int) -> None:
    if sent > expected:
        raise PayloadTooLarge(f"this upload link takes exactly {expected} bytes; more were sent")
    if sent < expected:
        raise BadRequest(f"this upload link takes exactly {expected} bytes; {sent} were sent")


class _RequestBody:
    """A blocking `read()` over the request body for a worker thread, pulling chunks from the event loop.

    Holds about one `read(size)` worth of bytes, so uploads of any size stream with constant memory. A body that
    runs past `expected` bytes, or ends short of them, raises from `read`: storage's writer then drops what it
    had written, whatever `Content-Length` claimed (or with none, for a chunked body).
    """

    def __init__(self, stream: AsyncIterator[bytes], *, expected: int) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._finished = False
        self._expected = expected
        self.bytes_read = 0

    async def _fill(self, limit: int) -> None:
        # Runs on the event loop: gathers chunks until `limit` bytes (or the end), so a worker thread crosses
        # to the loop once per read, not once per network chunk.
        while not self._finished and len(self._buffer) < limit:
            try:
                self._buffer += await self._stream.__anext__()
            except StopAsyncIteration:
                self._finished = True

    def read(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None or size < 0 else size
        if limit < 0:  # "everything" is one byte past the expected size at most: enough to tell it is too long
            limit = max(self._expected - self.bytes_read, 0) + 1
        if not self._finished and len(self._buffer) < limit:
            anyio.from_thread.run(self._fill, limit)
        data = bytes(self._buffer[:limit])
        del self._buffer[:limit]
        self.bytes_read += len(data)
        if self.bytes_read > self._expected or (not data and limit != 0 and self._finished):
            _check_length(self.bytes_read, self._expected)
        return data
