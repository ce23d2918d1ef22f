from __future__ import annotations

import pytest

from modelyard.core.cache import Cache
from modelyard.core.events import EventBus
from modelyard.core.runtime import Runtime
from modelyard.core.settings import Settings
from tests.conftest import SCALED


def test_get_or_set_loads_once(runtime: Runtime) -> None:
    calls = []

    def load() -> dict[str, int]:
        calls.append(1)
        return {"downloads": 7}

    assert runtime.cache.get_or_set("model:1", load, tags=["model:1"]) == {"downloads": 7}
    assert runtime.cache.get_or_set("model:1", load, tags=["model:1"]) == {"downloads": 7}
    assert len(calls) == 1


def test_invalidating_a_tag_misses_every_entry_under_it(runtime: Runtime) -> None:
    cache = runtime.cache
    cache.set("a", 1, tags=["user:1"])
    cache.set("b", 2, tags=["user:1", "model:9"])
    cache.set("c", 3, tags=["model:9"])
    cache.invalidate("user:1")
    assert cache.get("a") is None
    assert cache.get("b") is None
    assert cache.get("c") == 3


def test_peek_answers_from_this_process_only(runtime: Runtime, settings: Settings) -> None:
    cache = runtime.cache
    assert cache.peek("page") is None
    cache.set("page", "[1, 2]", tags=["catalog"])
    assert cache.peek("page") == "[1, 2]"
    cache.invalidate("catalog")
    assert cache.peek("page") is None
    if SCALED:  # held in Redis but not in this process: peek does not ask Redis
        other = Cache(settings, redis=cache.redis, events=cache.events)
        other.set("shared", "x")
        cache.local.clear()
        assert cache.peek("shared") is None
        assert cache.get("shared") == "x"
        assert cache.peek("shared") == "x"  # now it is held here too


def test_value_loaded_before_an_invalidation_is_not_served_after_it(runtime: Runtime) -> None:
    """A reader that read old data while a writer committed must not cache it past the invalidation."""
    cache = runtime.cache

    def stale_loader() -> str:
        cache.invalidate("model:5")  # the writer commits while the reader is loading
        return "old"

    assert cache.get_or_set("model:5", stale_loader, tags=["model:5"]) == "old"
    assert cache.get_or_set("model:5", lambda: "new", tags=["model:5"]) == "new"


def test_invalidation_after_commit_waits_for_the_commit(runtime: Runtime) -> None:
    runtime.cache.set("k", "v", tags=["t"])
    with runtime.db.transaction() as session:
        runtime.cache.invalidate_after_commit(session, "t")
        assert runtime.cache.get("k") == "v"
    assert runtime.cache.get("k") is None


def test_invalidation_is_dropped_on_rollback(runtime: Runtime) -> None:
    runtime.cache.set("k", "v", tags=["t"])
    with pytest.raises(RuntimeError), runtime.db.transaction() as session:
        runtime.cache.invalidate_after_commit(session, "t")
        raise RuntimeError
    assert runtime.cache.get("k") == "v"


def test_only_json_values_are_cached(runtime: Runtime) -> None:
    with pytest.raises(TypeError):
        runtime.cache.set("bad", object())


def test_local_layer_is_bounded(settings: Settings) -> None:
    small = settings.model_copy(update={"cache_local_max_entries": 3, "redis_url": None})
    cache = Cache(small, redis=None, events=EventBus())
    for n in range(10):
        cache.set(f"k{n}", n)
    assert len(cache.local.entries) == 3
    assert cache.get("k9") == 9 and cache.get("k0") is None


def test_local_layer_keeps_text_within_its_byte_budget(settings: Settings) -> None:
    """Whole responses are cached as text: the local layer counts their bytes, not just the entries."""
    small = settings.model_copy(update={"cache_local_max_bytes": 1000, "redis_url": None})
    cache = Cache(small, redis=None, events=EventBus())
    for n in range(5):
        cache.set(f"page{n}", str(n) * 300)
    assert list(cache.local.entries) == ["page2", "page3", "page4"] and cache.local.bytes == 900
    cache.set("page3", "x" * 50)  # replaced: its old size is given back
    assert cache.local.bytes == 650
    cache.set("huge", "y" * 1001)  # larger than the whole budget: not kept, and nothing evicted for it
    assert cache.get("huge") is None and cache.local.bytes == 650
    cache.set("page4", "z" * 1001)  # a value too large to keep still replaces the one it was meant to
    assert cache.get("page4") is None and cache.local.bytes == 350
    cache.delete("page2")
    assert cache.local.bytes == 50


@pytest.mark.scaled_only
def test_invalidation_reaches_another_process_local_layer(runtime: Runtime, settings: Settings) -> None:
    """Two processes (two Redis connections and buses): B invalidates, A's in-process copy stops serving."""
    from modelyard.core.redis import make_redis

    assert SCALED
    caches = []
    buses = []
    for _ in range(2):
        redis = make_redis(settings)
        bus = EventBus(redis=redis, prefix=settings.redis_key_prefix)
        bus.start()
        assert bus.connected.wait(5)
        buses.append(bus)
        caches.append(Cache(settings.model_copy(update={"cache_local_ttl_seconds": 60}), redis=redis, events=bus))
    a, b = caches
    a.set("profile:1", {"name": "old"}, tags=["user:1"])
    assert a.get("profile:1") == {"name": "old"}
    assert a.hits["local"] == 1
    b.invalidate("user:1")
    import time

    deadline = time.monotonic() + 5
    while a.get("profile:1") is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert a.get("profile:1") is None
    for bus in buses:
        bus.stop()
