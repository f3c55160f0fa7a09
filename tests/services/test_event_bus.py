"""The event bus of background work, in memory and on a real Redis, where two buses stand
for two replicas: what one publishes (or asks to cancel) the other receives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hearth.jobs.bus import EventBus, Listener, MemoryBus, RedisBus

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "redis"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EventBus, EventBus]]:
    """``(publisher, reader)``: one bus twice in memory, two buses on one Redis."""
    if request.param == "memory":
        bus = MemoryBus()
        yield bus, bus
        return
    url = request.getfixturevalue("redis_url")
    first, second = RedisBus(url), RedisBus(url)
    await first.start()
    await second.start()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def collect(listener: Listener) -> list[str]:
    return [data async for data in listener]


async def test_a_listener_gets_what_follows_its_position_until_the_end_mark(
    buses: tuple[EventBus, EventBus],
) -> None:
    publisher, reader = buses
    await publisher.publish("run:a", "before")
    listener = await reader.listen("run:a")  # from now: "before" is not for it
    reading = asyncio.create_task(collect(listener))
    for data in ("one", "two", "three"):
        await publisher.publish("run:a", data)
        await asyncio.sleep(0.01)
    await publisher.publish("run:a", None)
    assert await asyncio.wait_for(reading, 10) == ["one", "two", "three"]
    # the next segment of the same topic: a new listener, positioned after the end mark
    listener = await reader.listen("run:a")
    await publisher.publish("run:a", "four")
    await publisher.publish("run:a", None)
    assert await asyncio.wait_for(collect(listener), 10) == ["four"]


async def test_from_start_replays_the_first_segment_and_topics_are_separate(
    buses: tuple[EventBus, EventBus],
) -> None:
    publisher, reader = buses
    assert not await reader.exists("response:b")
    for data in ('{"n": 0}', '{"n": 1}'):
        await publisher.publish("response:b", data)
    await publisher.publish("response:other", "elsewhere")
    await publisher.publish("response:b", None)
    assert await reader.exists("response:b")
    replay = await reader.listen("response:b", from_start=True)
    assert await asyncio.wait_for(collect(replay), 10) == ['{"n": 0}', '{"n": 1}']


async def test_a_listener_closed_early_holds_nothing(buses: tuple[EventBus, EventBus]) -> None:
    publisher, reader = buses
    listener = await reader.listen("run:c")
    await publisher.publish("run:c", "first")
    assert await asyncio.wait_for(anext(listener), 10) == "first"
    await listener.aclose()  # the client left: no error, the publisher goes on
    await publisher.publish("run:c", "second")


async def test_a_signal_reaches_the_handlers_of_its_kind_on_every_replica(
    buses: tuple[EventBus, EventBus],
) -> None:
    publisher, reader = buses
    stopped: list[str] = []
    others: list[str] = []
    reader.on_signal("response", stopped.append)
    reader.on_signal("run", others.append)
    await publisher.signal("response", "resp_1")
    for _ in range(200):
        if stopped:
            break
        await asyncio.sleep(0.01)
    assert stopped[:1] == ["resp_1"]
    assert others == []


async def test_memory_topics_expire_after_their_last_event() -> None:
    bus = MemoryBus(ttl=0.05)
    await bus.publish("run:old", "x")
    await asyncio.sleep(0.1)
    assert not await bus.exists("run:old")
    await bus.publish("run:new", "y")  # creating a topic sweeps expired ones
    assert await bus.exists("run:new")
