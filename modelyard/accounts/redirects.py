"""Where a log-in may send the browser afterwards: only paths on this site (no open redirects)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SAFE_PATH = re.compile(r"^/(?![/\\])[^\s\\]*$")


def safe_next(value: str | None, default: str = "/") -> str:
    """`value` if it is a same-site path like `/models/1?tab=files`, else `default`.

    Refused: `//evil.com` and `/\\evil.com` (browsers treat both as another host), absolute URLs, anything
    with a scheme, whitespace, control characters or backslashes.
    """
    if not value or len(value) > 2000 or not _SAFE_PATH.match(value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return default
    return value
