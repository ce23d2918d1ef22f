"""Where an image is fetched from.

A public image (`images.visibility.is_public`) has one stable address for ever, its content address on this
server: `/media/<storage key>` (the key ends in a hash of the bytes), served with a year-long, immutable
`Cache-Control` and refused as soon as the image is no longer public (`images.media`). Browsers, proxies and a
CDN keep it; a tab left open for hours still shows it. Anything else (a draft's pictures, shown to its owner)
gets a short-lived signed URL of the storage, as model files do.
"""

from __future__ import annotations

from urllib.parse import quote

from modelyard.core.runtime import get_runtime

MEDIA_PREFIX = "/media/"


def public_path(storage_key: str) -> str:
    return MEDIA_PREFIX + quote(storage_key)


def image_url(storage_key: str, *, public: bool, base: str = "") -> str:
    """The address to give out: `base` + the stable path for a public image (`base` empty on pages, the public
    base URL in the API), else a signed URL that expires."""
    if public:
        return base + public_path(storage_key)
    return get_runtime().storage.download_url(storage_key)
