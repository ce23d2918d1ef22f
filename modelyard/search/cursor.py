"""Keyset cursors of search pages: the position after the last hit (its sort value and doc id), signed and bound
to the question that made it.

A search's order is computed (a relevance score, a fused rank) and its question has many parts, so a cursor from
another search would land somewhere meaningless rather than fail. The signature (HMAC with a key derived from the
installation's secret) covers the position and a fingerprint of the question, everything but the page size: a
cursor that was altered, or that comes from another question, is refused with a 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from datetime import datetime
from typing import Any

from modelyard.core.errors import BadRequest
from modelyard.core.runtime import get_runtime
from modelyard.search.types import SearchQuery

PURPOSE = "modelyard search cursor"
MAX_LENGTH = 300
SIGNATURE_BYTES = 16
BAD_CURSOR = "Invalid cursor: pass back the next_cursor of the same search"

SortValue = float | int | datetime


def fingerprint(query: SearchQuery) -> bytes:
    """The question `query` asks, without the page it asks for (limit, cursor, offset)."""
    question = [
        query.index,
        query.text,
        sorted((facet, sorted(values)) for facet, values in query.filters.items()),
        query.levels,
        str(query.sort),
        str(query.window),
        query.mode,
        query.user_id,
        list(query.entity_ids),
        query.since.isoformat() if query.since else None,
    ]
    return json.dumps(question, separators=(",", ":")).encode()


def write(query: SearchQuery, value: SortValue, doc_id: int) -> str:
    shown = value.isoformat() if isinstance(value, datetime) else value
    payload = _b64encode(json.dumps([shown, doc_id], separators=(",", ":")).encode())
    return f"{payload}.{_b64encode(_signature(query, payload))}"


def read(query: SearchQuery, cursor: str) -> tuple[SortValue, int]:
    """The position `cursor` holds, if this question made it; BadRequest otherwise."""
    if len(cursor) > MAX_LENGTH or cursor.count(".") != 1:
        raise BadRequest(BAD_CURSOR)
    payload, signature = cursor.split(".")
    try:
        given = _b64decode(signature)
        position = json.loads(_b64decode(payload))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(BAD_CURSOR) from None
    if not hmac.compare_digest(given, _signature(query, payload)):
        raise BadRequest(BAD_CURSOR)
    return _position(position)


def _position(position: Any) -> tuple[SortValue, int]:
    if not (isinstance(position, list) and len(position) == 2):
        raise BadRequest(BAD_CURSOR)
    value, doc_id = position
    if isinstance(doc_id, bool) or not isinstance(doc_id, int):
        raise BadRequest(BAD_CURSOR)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value), doc_id
        except ValueError:
            raise BadRequest(BAD_CURSOR) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(BAD_CURSOR)
    return value, doc_id


def _signature(query: SearchQuery, payload: str) -> bytes:
    key = hashlib.sha256(f"{PURPOSE}:{get_runtime().settings.secret}".encode()).digest()
    return hmac.new(key, fingerprint(query) + b"\n" + payload.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
