"""The local channel between the processes of one machine (no Redis): real Unix sockets, one per bus."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.core.cache import Cache
from modelyard.core.events import EventBus
from modelyard.core.localbus import LocalChannel, channel_directory
from modelyard.core.settings import Settings


def wait_for(condition, timeout: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def buses(tmp_path: Path) -> Iterator[list[EventBus]]:
    made = [EventBus(local=LocalChannel(tmp_path / "events")) for _ in range(3)]
    for bus in made:
        bus.start()
    yield made
    for bus in made:
        bus.stop()


def test_an_event_reaches_every_other_process_once(buses: list[EventBus]) -> None:
    heard: list[list[dict]] = [[] for _ in buses]  # type: ignore[type-arg]
    for bus, log in zip(buses, heard, strict=True):
        bus.listen("things", lambda _channel, data, log=log: log.append(data))
    buses[0].publish("things", {"n": 1})
    assert heard[0] == [{"n": 1}]  # the publisher's own listeners, at once, not echoed back later
    assert wait_for(lambda: heard[1] == [{"n": 1}] and heard[2] == [{"n": 1}])
    time.sleep(0.1)  # nothing more arrives
    assert heard == [[{"n": 1}]] * 3


def test_a_dead_process_socket_is_removed_and_the_rest_still_hear(tmp_path: Path, buses: list[EventBus]) -> None:
    directory = tmp_path / "events"
    orphan = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    orphan.bind(str(directory / "999999-dead.sock"))
    orphan.close()  # a process killed with SIGKILL leaves its socket file behind, with nobody reading
    heard: list[dict] = []  # type: ignore[type-arg]
    buses[2].listen("things", lambda _channel, data: heard.append(data))
    buses[0].local._peers_read_at = 0.0  # type: ignore[union-attr]
    buses[0].publish("things", {"n": 2})
    assert wait_for(lambda: heard == [{"n": 2}])
    assert not (directory / "999999-dead.sock").exists()


def test_a_stopped_bus_removes_its_socket(tmp_path: Path) -> None:
    bus = EventBus(local=LocalChannel(tmp_path / "events"))
    bus.start()
    assert bus.local is not None and bus.local.path.exists()
    bus.stop()
    assert not bus.local.path.exists()


def test_malformed_and_oversized_messages_change_nothing(tmp_path: Path, buses: list[EventBus]) -> None:
    heard: list[dict] = []  # type: ignore[type-arg]
    buses[1].listen("things", lambda _channel, data: heard.append(data))
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    target = str(buses[1].local.path)  # type: ignore[union-attr]
    for junk in (b"", b"\x00\xff", b"[]", b'{"channel": 1, "data": {}}', b'{"channel": "things", "data": []}'):
        sender.sendto(junk, target)
    sender.close()
    buses[0].publish("things", {"big": "x" * 100_000})  # over the channel's limit: logged, not sent
    buses[0].publish("things", {"n": 3})
    assert wait_for(lambda: heard == [{"n": 3}])


def test_a_long_data_directory_still_gets_a_channel(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    directory = channel_directory(deep)
    assert len(str(directory)) < 70
    assert channel_directory(deep) == directory  # every process of the installation finds the same one
    bus = EventBus(local=LocalChannel(directory))
    bus.start()
    try:
        assert bus.local is not None and bus.local.path.exists()
    finally:
        bus.stop()


def test_cache_invalidation_crosses_processes_whatever_their_counters(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    buses = [EventBus(local=LocalChannel(tmp_path / "events")) for _ in range(2)]
    for bus in buses:
        bus.start()
    first, second = (Cache(settings, redis=None, events=bus) for bus in buses)
    try:
        for _ in range(5):
            second.invalidate("models")  # the second process's own counter runs ahead of the first's
        second.set("page", "old", tags=["models"])
        first.invalidate("models")
        assert wait_for(lambda: second.get("page") is None)
        second.set("page", "new", tags=["models"])
        assert second.get("page") == "new"
    finally:
        for bus in buses:
            bus.stop()
