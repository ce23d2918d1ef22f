"""Live events: publish on a channel, every subscriber in every process receives it.

With Redis, each process publishes to Redis pub/sub and one listener thread per process hands what arrives to its
local subscribers, so a web process's SSE stream sees events raised by a worker. Without Redis (one machine),
events are delivered in the publishing process at once and sent to the installation's other processes over a
local channel (`modelyard.core.localbus`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.core.localbus import LocalChannel

log = logging.getLogger("modelyard.events")

Listener = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Event:
    channel: str
    data: dict[str, Any]


class Subscription:
    """An async iterator of the events of one channel, for an SSE or WebSocket handler."""

    def __init__(self, bus: EventBus, channel: str, *, max_queued: int = 1000) -> None:
        self.bus = bus
        self.channel = channel
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=max_queued)
        self.dropped = 0

    def deliver(self, event: Event) -> None:
        """Called from any thread."""
        self.loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A stalled client must not grow memory without bound; it can re-read state on reconnect.
            self.dropped += 1

    async def get(self, timeout: float | None = None) -> Event | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    def close(self) -> None:
        self.bus._remove_subscription(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class EventBus:
    def __init__(
        self, *, redis: Any | None = None, prefix: str = "modelyard", local: LocalChannel | None = None
    ) -> None:
        self.redis = redis
        self.local = local if redis is None else None
        self.pattern_prefix = f"{prefix}:events:"
        self._lock = threading.Lock()
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._subscriptions: dict[str, list[Subscription]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    # --- publishing -------------------------------------------------------------------------------------
    def publish(self, channel: str, data: dict[str, Any]) -> None:
        if self.redis is None:
            self._dispatch(Event(channel, data))
            if self.local is not None:
                self.local.send(json.dumps({"channel": channel, "data": data}, separators=(",", ":")).encode())
            return
        self.redis.publish(self.pattern_prefix + channel, json.dumps(data, separators=(",", ":")))

    # --- receiving --------------------------------------------------------------------------------------
    def listen(self, channel: str, callback: Listener) -> Callable[[], None]:
        """Call `callback(channel, data)` for each event (on the publisher's or the listener's thread)."""
        with self._lock:
            self._listeners[channel].append(callback)

        def remove() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners[channel].remove(callback)

        return remove

    def subscribe(self, channel: str) -> Subscription:
        subscription = Subscription(self, channel)
        with self._lock:
            self._subscriptions[channel].append(subscription)
        return subscription

    def _remove_subscription(self, subscription: Subscription) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._subscriptions[subscription.channel].remove(subscription)

    def _dispatch(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners.get(event.channel, ()))
            subscriptions = list(self._subscriptions.get(event.channel, ()))
        for callback in listeners:
            try:
                callback(event.channel, event.data)
            except Exception:
                log.exception("event listener failed", extra={"channel": event.channel})
        for subscription in subscriptions:
            subscription.deliver(event)

    # --- the Redis listener thread ----------------------------------------------------------------------
    def start(self) -> None:
        if self.redis is None:
            if self.local is not None:
                self.local.start(self._handle_local)
            self.connected.set()
            return
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen_forever, name="event-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self.local is not None:
            self.local.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.connected.clear()

    def _listen_forever(self) -> None:
        redis = self.redis
        assert redis is not None
        delay = 0.2
        while not self._stop.is_set():
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(self.pattern_prefix + "*")
                self.connected.set()
                delay = 0.2
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message is not None:
                        self._handle(message)
            except Exception:
                self.connected.clear()
                log.warning("event listener lost Redis; reconnecting", exc_info=True)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()

    def _handle_local(self, message: bytes) -> None:
        try:
            decoded = json.loads(message)
            channel, data = decoded["channel"], decoded["data"]
        except (TypeError, ValueError, KeyError):
            log.warning("ignored a malformed local event")
            return
        if isinstance(channel, str) and isinstance(data, dict):
            self._dispatch(Event(channel, data))

    def _handle(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        try:
            data = json.loads(message["data"])
        except (TypeError, ValueError):
            log.warning("ignored a malformed event", extra={"channel": channel})
            return
        self._dispatch(Event(channel.removeprefix(self.pattern_prefix), data))
