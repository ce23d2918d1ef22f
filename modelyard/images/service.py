"""Ingesting images: any common image in, a WebP (at most 2048 px on its long side) with its BlurHash out, stored
under a content address (`images/<user>/<sha256 prefix>.webp`), then added to a post.

One way in (`prepare` → `add_image`), used by the showcase, the API and the demo alike. Every image is checked
and converted before any is stored, so a bad file in a batch changes nothing.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError
from sqlalchemy.orm import Session

from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.models import ModelVersion
from modelyard.core.errors import PayloadTooLarge, ValidationFailed
from modelyard.core.runtime import get_runtime
from modelyard.images import blurhash
from modelyard.images.models import Image, Post
from modelyard.search import outbox

MAX_UPLOAD_BYTES = 32 * 1024 * 1024
MAX_PIXELS = 80_000_000
MAX_SIDE = 2048
MAX_POST_IMAGES = 20
MAX_TITLE = 255
ACCEPTED = {"PNG", "JPEG", "WEBP", "GIF"}


@dataclass(frozen=True)
class Prepared:
    """An uploaded image, checked and converted, not yet stored."""

    webp: bytes
    width: int
    height: int
    blurhash: str

    @property
    def storage_key_name(self) -> str:
        """The content address's file name: equal bytes, equal name."""
        return f"{hashlib.sha256(self.webp).hexdigest()[:24]}.webp"


def _to_webp(data: bytes) -> Prepared:
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
            return Prepared(out.getvalue(), picture.width, picture.height, blurhash.encode(picture))
    except (UnidentifiedImageError, PILImage.DecompressionBombError, OSError, ValueError) as exc:
        raise ValidationFailed("That file is not an image we can read") from exc


def prepare(data: bytes) -> Prepared:
    """Check and re-encode an uploaded image."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"Images are at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    return _to_webp(data)


def add_image(
    session: Session,
    post: Post,
    data: bytes | Prepared,
    *,
    meta: dict[str, Any] | None = None,
    nsfw_level: int = 1,
    name: str | None = None,
) -> Image:
    """Add an image (raw bytes, or what `prepare` made of them) to a post, after its last one."""
    picture = prepare(data) if isinstance(data, bytes) else data
    key = f"images/{post.user_id}/{picture.storage_key_name}"
    get_runtime().storage.save(key, picture.webp, content_type="image/webp")
    image = Image(
        user_id=post.user_id,
        post_id=post.id,
        index=len(post.images),
        storage_key=key,
        name=_clean_name(name),
        mime_type="image/webp",
        width=picture.width,
        height=picture.height,
        size_kb=len(picture.webp) / 1024,
        blurhash=picture.blurhash,
        nsfw_level=nsfw_level,
        meta=meta,
    )
    post.images.append(image)
    session.flush()
    return image


def _clean_name(name: str | None) -> str | None:
    """The uploaded file's name, as shown in the viewer: printable, at most 255 characters."""
    if not name:
        return None
    cleaned = "".join(character for character in name if character.isprintable()).strip()
    return cleaned[:MAX_TITLE] or None


def clean_title(title: str | None) -> str | None:
    title = (title or "").strip() or None
    if title is not None and (len(title) > MAX_TITLE or "\x00" in title):
        raise ValidationFailed(f"A post title is at most {MAX_TITLE} characters of text", field="title")
    return title


def goes_live_with(version: ModelVersion) -> bool:
    """Whether a showcase post added now is published at once: its version and model are live. Otherwise it
    waits unpublished and goes live with the version (the lifecycle's hook, `images.hooks`)."""
    return version.status == ModelStatus.Published and version.model.status == ModelStatus.Published


def create_version_post(
    session: Session,
    owner_id: int,
    version: ModelVersion,
    *,
    title: str | None,
    images: list[bytes] | list[Prepared],
    names: list[str | None] | None = None,
    metas: list[dict[str, Any] | None] | None = None,
) -> Post:
    """A showcase post for a model version, public when the version is."""
    if not images:
        raise ValidationFailed("A post needs at least one image")
    if len(images) > MAX_POST_IMAGES:
        raise ValidationFailed(f"A post has at most {MAX_POST_IMAGES} images")
    title = clean_title(title)
    prepared = [prepare(data) if isinstance(data, bytes) else data for data in images]  # all checked first
    post = Post(user_id=owner_id, model_version_id=version.id, title=title, metadata_={})
    session.add(post)
    session.flush()
    for position, picture in enumerate(prepared):
        name = names[position] if names else None
        add_image(session, post, picture, name=name, meta=metas[position] if metas else None)
    if goes_live_with(version):
        post.published_at = post.created_at
    session.flush()
    showcase_changed(session, version, [image.id for image in post.images], live=post.published_at is not None)
    return post


def showcase_changed(session: Session, version: ModelVersion, image_ids: list[int], *, live: bool) -> None:
    """After pictures were added to a version: search learns of the live ones, and the model's cached views (its
    page, lists showing its cover, the v1 API) are stale."""
    if image_ids and live:
        outbox.queue(session, "images", image_ids, "update")
    effects.invalidate_model(session, version.model_id)
