"""A change made in one process reaches every process's evaluator through the event bus within a second."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from modelyard.core.events import EventBus
from modelyard.core.runtime import Runtime
from modelyard.core.settings import Settings
from modelyard.flags import service
from modelyard.flags.schemas import FlagCreate, FlagUpdate

EVERYONE = {"enabled": True, "everyone": True}


def seconds_until(check: Callable[[], bool], timeout: float = 5.0) -> float | None:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            return None
        time.sleep(0.005)
    return time.monotonic() - started


def ensure_listening(bus: EventBus) -> None:
    """Another test's app shutdown stops the shared runtime's bus; restart it and wait until an event comes
    back (`connected` alone can be left over from before the stop)."""
    bus.start()
    arrived = threading.Event()
    remove = bus.listen("flags.test-probe", lambda _channel, _data: arrived.set())
    try:
        for _ in range(50):
            bus.publish("flags.test-probe", {})
            if arrived.wait(0.1):
                return
        raise AssertionError("the event bus does not deliver")
    finally:
        remove()


@pytest.fixture
def local_sync(runtime: Runtime) -> Iterator[service.FlagSync]:
    ensure_listening(runtime.events)
    sync = service.flag_sync(runtime)
    sync.reload()  # the tables were emptied behind its back after the previous test
    yield sync
    service.stop_flags(runtime)


def test_a_change_reaches_this_process_within_a_second(runtime: Runtime, local_sync: service.FlagSync) -> None:
    with runtime.db.transaction() as session:
        service.create_flag(session, FlagCreate(name="live", **EVERYONE), actor=None, events=runtime.events)
    elapsed = seconds_until(lambda: local_sync.evaluator.is_enabled("live", None))
    assert elapsed is not None and elapsed < 1.0
    with runtime.db.transaction() as session:
        changes = FlagUpdate(enabled=False)
        service.update_flag(session, "live", changes, settings=runtime.settings, actor=None, events=runtime.events)
    elapsed = seconds_until(lambda: not local_sync.evaluator.is_enabled("live", None))
    assert elapsed is not None and elapsed < 1.0


def test_a_rolled_back_change_is_never_announced(runtime: Runtime, local_sync: service.FlagSync) -> None:
    heard: list[dict[str, object]] = []
    remove = runtime.events.listen(service.CHANGED_CHANNEL, lambda _channel, data: heard.append(data))
    try:
        with pytest.raises(RuntimeError), runtime.db.transaction() as session:
            service.create_flag(session, FlagCreate(name="undone", **EVERYONE), actor=None, events=runtime.events)
            raise RuntimeError("the request failed after the change")
        time.sleep(0.3)
    finally:
        remove()
    assert heard == []
    assert not local_sync.evaluator.is_enabled("undone", None)


@pytest.mark.scaled_only
def test_a_change_reaches_a_process_on_another_redis_connection(runtime: Runtime, settings: Settings) -> None:
    """The second bus and its FlagSync stand for another web process."""
    from modelyard.core.redis import make_redis

    ensure_listening(runtime.events)
    redis = make_redis(settings)
    bus = EventBus(redis=redis, prefix=settings.redis_key_prefix)
    other = service.FlagSync(dataclasses.replace(runtime, events=bus))
    bus.start()
    assert bus.connected.wait(5)
    other.start()
    try:
        assert not other.evaluator.is_enabled("fan-out", None)
        with runtime.db.transaction() as session:
            service.create_flag(session, FlagCreate(name="fan-out", **EVERYONE), actor=None, events=runtime.events)
        elapsed = seconds_until(lambda: other.evaluator.is_enabled("fan-out", None))
        assert elapsed is not None and elapsed < 1.0, elapsed
    finally:
        other.stop()
        bus.stop()
        redis.close()


def test_a_process_that_missed_the_event_catches_up_on_its_next_reload(
    runtime: Runtime, local_sync: service.FlagSync
) -> None:
    with runtime.db.transaction() as session:
        quiet = EventBus()  # nobody listens to it: the announcement is lost
        service.create_flag(session, FlagCreate(name="missed", **EVERYONE), actor=None, events=quiet)
    assert not local_sync.evaluator.is_enabled("missed", None)
    assert local_sync.reload()
    assert local_sync.evaluator.is_enabled("missed", None)
