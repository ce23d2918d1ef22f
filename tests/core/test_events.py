from __future__ import annotations

import asyncio
import threading

import pytest

from modelyard.core.events import EventBus
from modelyard.core.runtime import Runtime
from modelyard.core.settings import Settings


def test_listener_receives_published_event(runtime: Runtime) -> None:
    received = threading.Event()
    seen: list[dict] = []  # type: ignore[type-arg]

    def on_event(channel: str, data: dict) -> None:  # type: ignore[type-arg]
        seen.append(data)
        received.set()

    remove = runtime.events.listen("test.ping", on_event)
    try:
        runtime.events.publish("test.ping", {"n": 1})
        assert received.wait(5)
        assert seen == [{"n": 1}]
    finally:
        remove()


def test_async_subscription_gets_events_from_another_thread(runtime: Runtime) -> None:
    async def scenario() -> dict:  # type: ignore[type-arg]
        with runtime.events.subscribe("generation.user.1") as subscription:
            threading.Thread(target=runtime.events.publish, args=("generation.user.1", {"progress": 50})).start()
            event = await subscription.get(timeout=5)
            assert event is not None
            return event.data

    assert asyncio.run(scenario()) == {"progress": 50}


def test_events_on_other_channels_are_not_delivered(runtime: Runtime) -> None:
    async def scenario() -> object:
        with runtime.events.subscribe("a") as subscription:
            runtime.events.publish("b", {"x": 1})
            return await subscription.get(timeout=0.5)

    assert asyncio.run(scenario()) is None


@pytest.mark.scaled_only
def test_event_fans_out_to_every_process(settings: Settings) -> None:
    """Each bus stands for one web process with its own Redis connection."""
    from modelyard.core.redis import make_redis

    buses = [EventBus(redis=make_redis(settings), prefix=settings.redis_key_prefix) for _ in range(3)]
    arrivals = [threading.Event() for _ in buses]
    for bus, arrived in zip(buses, arrivals, strict=True):
        bus.listen("fanout", lambda _c, _d, arrived=arrived: arrived.set())
        bus.start()
        assert bus.connected.wait(5)
    buses[0].publish("fanout", {"hello": "world"})
    assert all(arrived.wait(5) for arrived in arrivals)
    for bus in buses:
        bus.stop()
