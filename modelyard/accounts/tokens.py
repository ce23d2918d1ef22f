"""Secrets handed to users (session cookies, API keys, e-mail links) and the keyed hashes we keep of them.

A database leak reveals no usable credential: every lookup hashes the presented secret with the installation's
key (HMAC-SHA512) and compares hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from modelyard.core.runtime import get_runtime


def keyed_hash(secret_value: str, *, purpose: str) -> str:
    key = f"{purpose}:{get_runtime().settings.secret}".encode()
    return hmac.new(key, secret_value.encode(), hashlib.sha512).hexdigest()


def new_api_key() -> str:
    """32 hex characters, as Civitai's keys (16 random bytes)."""
    return secrets.token_hex(16)


def new_url_token() -> str:
    return secrets.token_urlsafe(32)


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def sign(payload: dict[str, Any], *, purpose: str, max_age: int) -> str:
    """A tamper-proof, expiring value for a cookie (e.g. OAuth state): base64 JSON + HMAC."""
    body = dict(payload, exp=int(time.time()) + max_age)
    encoded = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{encoded}.{keyed_hash(encoded, purpose=purpose)[:64]}"


def unsign(value: str, *, purpose: str) -> dict[str, Any] | None:
    """The payload of a `sign`ed value, or None if it was tampered with or has expired."""
    encoded, _, signature = value.partition(".")
    if not signature or not constant_time_equal(signature, keyed_hash(encoded, purpose=purpose)[:64]):
        return None
    try:
        body: dict[str, Any] = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, TypeError):
        return None
    if not isinstance(body, dict) or int(body.get("exp", 0)) < time.time():
        return None
    return body
