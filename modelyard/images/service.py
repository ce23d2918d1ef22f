"""Storing post images: any common image in, a WebP (at most 2048 px on its long side) out, in the platform's
storage; URLs are short-lived signed ones (this server's or the bucket's)."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError
from sqlalchemy.orm import Session

from modelyard.catalog.lifecycle import effects
from modelyard.catalog.models import ModelVersion
from modelyard.core.errors import PayloadTooLarge, ValidationFailed
from modelyard.core.runtime import get_runtime
from modelyard.images.models import Image, Post

MAX_UPLOAD_BYTES = 32 * 1024 * 1024
MAX_PIXELS = 80_000_000
MAX_SIDE = 2048
MAX_POST_IMAGES = 20
ACCEPTED = {"PNG", "JPEG", "WEBP", "GIF"}


def _to_webp(data: bytes) -> tuple[bytes, int, int]:
    try:
        with PILImage.open(io.BytesIO(data)) as source:
            if source.format not in ACCEPTED:
                raise ValidationFailed("Images are PNG, JPEG, WebP or GIF files")
            if source.width * source.height > MAX_PIXELS:
                raise ValidationFailed("That image has too many pixels")
            picture = ImageOps.exif_transpose(source).convert("RGB")
            picture.thumbnail((MAX_SIDE, MAX_SIDE), PILImage.Resampling.LANCZOS)
            out = io.BytesIO()
            picture.save(out, format="WEBP", quality=88, method=4)
            return out.getvalue(), picture.width, picture.height
    except (UnidentifiedImageError, PILImage.DecompressionBombError, OSError, ValueError) as exc:
        raise ValidationFailed("That file is not an image we can read") from exc


def prepare(data: bytes) -> tuple[bytes, int, int]:
    """Check and re-encode an uploaded image: (WebP bytes, width, height)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"Images are at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    return _to_webp(data)


def add_image(
    session: Session,
    post: Post,
    data: bytes | tuple[bytes, int, int],
    *,
    meta: dict[str, Any] | None = None,
    nsfw_level: int = 1,
) -> Image:
    """Add an image (raw bytes, or what `prepare` made of them) to a post, after its last one."""
    webp, width, height = prepare(data) if isinstance(data, bytes) else data
    key = f"images/{post.user_id}/{hashlib.sha256(webp).hexdigest()[:24]}.webp"
    get_runtime().storage.save(key, webp, content_type="image/webp")
    image = Image(
        user_id=post.user_id,
        post_id=post.id,
        index=len(post.images),
        storage_key=key,
        mime_type="image/webp",
        width=width,
        height=height,
        size_kb=len(webp) / 1024,
        nsfw_level=nsfw_level,
        meta=meta,
    )
    post.images.append(image)
    session.flush()
    return image


def image_url(image: Image) -> str:
    return get_runtime().storage.download_url(image.storage_key)


def create_version_post(
    session: Session, owner_id: int, version_id: int, *, title: str | None, images: list[bytes], published: bool
) -> Post:
    """A showcase post for a model version. It is public when the version is; until then it waits unpublished
    and goes live with the version (see catalog.lifecycle)."""
    if not images:
        raise ValidationFailed("A post needs at least one image")
    if len(images) > MAX_POST_IMAGES:
        raise ValidationFailed(f"A post has at most {MAX_POST_IMAGES} images")
    title = (title or "").strip() or None
    if title is not None and len(title) > 255:
        raise ValidationFailed("A post title is at most 255 characters")
    prepared = [prepare(data) for data in images]  # every image checked before any is stored
    post = Post(user_id=owner_id, model_version_id=version_id, title=title, metadata_={})
    session.add(post)
    session.flush()
    for picture in prepared:
        add_image(session, post, picture)
    if published:
        post.published_at = post.created_at
        version = session.get(ModelVersion, version_id)
        if version is not None:  # its showcase is part of the version's public face
            effects.invalidate_model(session, version.model_id)
    session.flush()
    return post
