"""`/media/<storage key>`: public images at stable, cacheable addresses (`images.urls`).

The key is a content address (it ends in a hash of the bytes), so what is behind an address never changes: it
is served with a year-long, immutable `Cache-Control` and an ETag. The address answers only while some image
stored under it is public (`images.visibility.public_images`); once the model is unpublished or taken down, or
the picture removed, or while the image is not Scanned (Pending, Error, Blocked), it is a 404 like any unknown
address. An image's thumbnails and an animation's poster (`<key stem>.w320.webp`, `<key stem>.poster.webp`,
`images.urls`) answer under the same rule as the picture they belong to; originals (`originals/…`) never do.
Shared caches are asked to check again after ten minutes (`s-maxage`), so a CDN stops serving a picture taken
down; a browser that kept it keeps it.

On S3 the bytes are streamed through this server rather than redirected to a presigned URL, whose address
changes with every signing and so could not be cached (docs/decisions/0018-stable-image-addresses.md; measured by
bench/image_serving.py).
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from modelyard.core.errors import NotFound
from modelyard.core.http import DbDep
from modelyard.core.storage.base import MAX_KEY_BYTES
from modelyard.core.storage.routes import object_response
from modelyard.images import visibility
from modelyard.images.models import Image, Post

router = APIRouter(include_in_schema=False)
PUBLIC_CACHE = "public, max-age=31536000, s-maxage=600, immutable"
_DERIVED = re.compile(r"^(images/.+)\.(?:w[0-9]{1,5}|poster)\.webp$")


_PUBLIC_IMAGE = visibility.with_versions(
    select(Image.mime_type).join(Post, Post.id == Image.post_id).where(Image.storage_key == bindparam("key"))
).where(visibility.public_images())


def public_media_type(connection: Connection, storage_key: str) -> str | None:
    """The media type of a public image stored under this key (or of its thumbnail or poster), or None when no
    image anyone may see has it (the same picture posted twice by its owner shares one key)."""
    if not storage_key.startswith("images/") or len(storage_key.encode()) > MAX_KEY_BYTES or "\x00" in storage_key:
        return None
    derived = _DERIVED.match(storage_key)
    picture_key = f"{derived.group(1)}.webp" if derived else storage_key
    media_type = connection.execute(_PUBLIC_IMAGE.limit(1), {"key": picture_key}).scalar()
    return "image/webp" if derived and media_type is not None else media_type


@router.api_route("/media/{storage_key:path}", methods=["GET", "HEAD"])
async def media(storage_key: str, request: Request, db: DbDep) -> Response:
    """A public image by its content address; 404 when no public image has it. One thread-pool hop: the check
    on a bare connection, and on S3 the read of the bytes."""
    etag = f'"{storage_key.rsplit("/", 1)[-1].rsplit(".", 1)[0]}"'
    headers = {"Cache-Control": PUBLIC_CACHE, "ETag": etag, "Access-Control-Allow-Origin": "*"}
    revalidating = etag in request.headers.get("if-none-match", "")

    def work(connection: Connection) -> Response:
        media_type = public_media_type(connection, storage_key)
        if media_type is None:
            raise NotFound("No such image")
        if revalidating:
            return Response(status_code=304, headers=headers)
        head = request.method == "HEAD"
        return object_response(db.runtime.storage, storage_key, headers=headers, media_type=media_type, head=head)

    return await db.read(work)
