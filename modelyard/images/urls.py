"""Where an image is fetched from.

A public image (`images.visibility.is_public`) has one stable address for ever, its content address on this
server: `/media/<storage key>` (the key ends in a hash of the bytes), served with a year-long, immutable
`Cache-Control` and refused as soon as the image is no longer public (`images.media`). Browsers, proxies and a
CDN keep it; a tab left open for hours still shows it. Anything else (a draft's pictures, shown to its owner)
gets a short-lived signed URL of the storage, as model files do.

Thumbnails and an animation's poster are stored beside the public copy under keys derived from its key, and are
served under the same rule (`images.media`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from modelyard.core.runtime import get_runtime

if TYPE_CHECKING:
    from modelyard.images.models import Image

MEDIA_PREFIX = "/media/"


def public_path(storage_key: str) -> str:
    return MEDIA_PREFIX + quote(storage_key)


def image_url(storage_key: str, *, public: bool, base: str = "") -> str:
    """The address to give out: `base` + the stable path for a public image (`base` empty on pages, the public
    base URL in the API), else a signed URL that expires."""
    if public:
        return base + public_path(storage_key)
    return get_runtime().storage.download_url(storage_key)


# --- what is stored beside a public copy: its key, with a suffix before `.webp` ---------------------------------

PUBLIC_SUFFIX = ".webp"


def _stem(storage_key: str) -> str:
    return storage_key[: -len(PUBLIC_SUFFIX)] if storage_key.endswith(PUBLIC_SUFFIX) else storage_key


def thumbnail_key(storage_key: str, width: int) -> str:
    """`images/7/ab12….webp` → `images/7/ab12….w320.webp`: served under the same rule as the picture."""
    return f"{_stem(storage_key)}.w{width}{PUBLIC_SUFFIX}"


def poster_key(storage_key: str) -> str:
    """The still first frame of an animated picture."""
    return f"{_stem(storage_key)}.poster{PUBLIC_SUFFIX}"


def derived_keys(storage_key: str, widths: list[int] | None, *, poster: bool) -> list[str]:
    keys = [thumbnail_key(storage_key, width) for width in widths or []]
    return [*keys, poster_key(storage_key)] if poster else keys


def thumbnail_url(image: Image, width: int, *, public: bool, base: str = "") -> str:
    """The address of the image's thumbnail of `width` (or of the next larger one stored), else of the full
    picture: a narrow picture has no thumbnails, and images stored before ingestion made them have none."""
    larger = sorted(stored for stored in image.thumbnail_widths or [] if stored >= width)
    key = thumbnail_key(image.storage_key, larger[0]) if larger else image.storage_key
    return image_url(key, public=public, base=base)
