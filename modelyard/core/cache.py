"""A two-layer cache with tag invalidation: an in-process LRU in front of Redis (when configured).

Invalidation is by tag version, not by deleting keys: each entry remembers the versions of its tags as they
were *before* its value was loaded, and `invalidate(tag)` bumps the version. An entry whose tag moved on is a
miss, so a reader that loaded old data while a writer committed can never store a value that outlives the
invalidation. New versions fan out to every process over the event bus, which keeps the local layers honest;
with Redis, `cache_local_ttl_seconds` bounds staleness if a message is lost.

Without Redis the versions are each process's own counters, so a process that hears of an invalidation elsewhere
(over the local channel, see modelyard.core.localbus) bumps its own version of the tag rather than adopting a
number that means nothing to it.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from modelyard.core.db import on_commit
from modelyard.core.events import EventBus
from modelyard.core.settings import Settings

T = TypeVar("T")
INVALIDATE_CHANNEL = "cache.invalidate"
_MISS = object()


def _weight(value: Any) -> int:
    """What a value counts against the local layer's byte budget: the length of text (whole responses are cached
    as text); other values are small."""
    return len(value) if isinstance(value, str | bytes) else 0


class _LocalLayer:
    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.entries: OrderedDict[str, tuple[float, Any, dict[str, int]]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> tuple[Any, dict[str, int]] | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            expires, value, versions = entry
            if expires < time.monotonic():
                self._remove(key)
                return None
            self.entries.move_to_end(key)
            return value, versions

    def set(self, key: str, value: Any, versions: dict[str, int], ttl: float) -> None:
        with self.lock:
            self._remove(key)  # even when the new value is not kept: the old one must not be served instead
            if self.max_entries == 0 or ttl <= 0 or _weight(value) > self.max_bytes:
                return
            self.entries[key] = (time.monotonic() + ttl, value, versions)
            self.bytes += _weight(value)
            while len(self.entries) > self.max_entries or self.bytes > self.max_bytes:
                self._remove(next(iter(self.entries)))

    def delete(self, key: str) -> None:
        with self.lock:
            self._remove(key)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.bytes = 0

    def _remove(self, key: str) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= _weight(entry[1])


class Cache:
    def __init__(self, settings: Settings, *, redis: Any | None, events: EventBus) -> None:
        self.redis = redis
        self.events = events
        self.default_ttl = settings.cache_default_ttl_seconds
        # Without Redis the local layer is the only one: its entries live their whole TTL. Messages from the other
        # processes of the machine could be lost only when a peer's queue stays full (logged); bounding every entry
        # to a few seconds for that cost the public API's hot reads their hit rate (decision 0013).
        self.local_ttl = settings.cache_local_ttl_seconds if redis is not None else None
        self.local = _LocalLayer(settings.cache_local_max_entries, settings.cache_local_max_bytes)
        self.prefix = f"{settings.redis_key_prefix}:cache:"
        self.tag_prefix = f"{settings.redis_key_prefix}:cache-tag:"
        self._versions: dict[str, int] = {}
        self._versions_lock = threading.Lock()
        self.hits = {"local": 0, "redis": 0}
        self.misses = 0
        self._origin = secrets.token_hex(8)
        events.listen(INVALIDATE_CHANNEL, self._on_invalidate)

    # --- reading and writing ----------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        value = self._lookup(key)
        return default if value is _MISS else value

    def peek(self, key: str) -> Any:
        """The value if this process holds it, fresh, else None: no I/O at all (Redis is not asked), so an event
        loop may call it."""
        value = self._local(key)
        return None if value is _MISS else value

    def get_or_set(self, key: str, loader: Callable[[], T], *, ttl: int | None = None, tags: Iterable[str] = ()) -> T:
        """The cached value, or `loader()` stored under `tags` (JSON values only)."""
        tags = tuple(tags)
        versions = self._current_versions(tags)  # before loading: see the module docstring
        value = self._lookup(key)
        if value is not _MISS:
            return value
        loaded = loader()
        self._store(key, loaded, ttl, versions)
        return loaded

    def set(self, key: str, value: Any, *, ttl: int | None = None, tags: Iterable[str] = ()) -> None:
        self._store(key, value, ttl, self._current_versions(tuple(tags)))

    def delete(self, key: str) -> None:
        self.local.delete(key)
        if self.redis is not None:
            self.redis.delete(self.prefix + key)

    # --- invalidation -----------------------------------------------------------------------------------
    def invalidate(self, *tags: str) -> None:
        """Make every entry stored under any of `tags` a miss, in every process."""
        if not tags:
            return
        if self.redis is None:
            self._bump(tags)
            self.events.publish(INVALIDATE_CHANNEL, {"tags": dict.fromkeys(tags, 0), "origin": self._origin})
            return
        pipe = self.redis.pipeline(transaction=False)
        for tag in tags:
            pipe.incr(self.tag_prefix + tag)
        new_versions = dict(zip(tags, pipe.execute(), strict=True))
        self._learn(new_versions)
        self.events.publish(INVALIDATE_CHANNEL, {"tags": new_versions})

    def invalidate_after_commit(self, session: Session, *tags: str) -> None:
        on_commit(session, lambda: self.invalidate(*tags))

    def _on_invalidate(self, _channel: str, data: dict[str, Any]) -> None:
        tags = data.get("tags")
        if not isinstance(tags, dict) or data.get("origin") == self._origin:
            return
        if self.redis is None:
            self._bump(tuple(str(tag) for tag in tags))
        else:
            self._learn({str(tag): int(version) for tag, version in tags.items()})

    def _bump(self, tags: Iterable[str]) -> None:
        with self._versions_lock:
            for tag in tags:
                self._versions[tag] = self._versions.get(tag, 0) + 1

    def _learn(self, versions: dict[str, int]) -> None:
        with self._versions_lock:
            for tag, version in versions.items():
                if version > self._versions.get(tag, 0):
                    self._versions[tag] = version

    # --- internals --------------------------------------------------------------------------------------
    def _current_versions(self, tags: tuple[str, ...]) -> dict[str, int]:
        if not tags:
            return {}
        if self.redis is not None:
            raw = self.redis.mget([self.tag_prefix + tag for tag in tags])
            self._learn({tag: int(v) for tag, v in zip(tags, raw, strict=True) if v is not None})
        with self._versions_lock:
            return {tag: self._versions.get(tag, 0) for tag in tags}

    def _fresh(self, versions: dict[str, int]) -> bool:
        with self._versions_lock:
            return all(self._versions.get(tag, 0) == version for tag, version in versions.items())

    def _local(self, key: str) -> Any:
        local = self.local.get(key)
        if local is None:
            return _MISS
        value, versions = local
        if not self._fresh(versions):
            self.local.delete(key)
            return _MISS
        self.hits["local"] += 1
        return value

    def _lookup(self, key: str) -> Any:
        value = self._local(key)
        if value is not _MISS:
            return value
        if self.redis is not None:
            raw = self.redis.get(self.prefix + key)
            if raw is not None:
                entry = json.loads(raw)
                versions = entry["t"]
                if self._fresh_remote(versions):
                    self.hits["redis"] += 1
                    self.local.set(key, entry["v"], versions, self._local_lifetime(None))
                    return entry["v"]
        self.misses += 1
        return _MISS

    def _fresh_remote(self, versions: dict[str, int]) -> bool:
        if versions:
            self._current_versions(tuple(versions))
        return self._fresh(versions)

    def _store(self, key: str, value: Any, ttl: int | None, versions: dict[str, int]) -> None:
        ttl = ttl or self.default_ttl
        if self.redis is not None:
            payload = json.dumps({"v": value, "t": versions}, separators=(",", ":"))
            self.redis.set(self.prefix + key, payload, ex=ttl)
        else:
            json.dumps(value)  # the same contract in both modes: JSON values only
        self.local.set(key, value, versions, self._local_lifetime(ttl))

    def _local_lifetime(self, ttl: int | None) -> float:
        ttl = ttl or self.default_ttl
        return ttl if self.local_ttl is None else min(ttl, self.local_ttl)
