"""``EventBus``: the events of background work (a run's ``thread.*`` events, a background
response's stream) and signals (cancel this work, forget cached keys), shared by every
replica.

Background work runs on whichever replica claimed its lease (``hearth.jobs.JobRunner``),
while the client that streams it, or cancels it, may be talking to another. So the worker
appends each event to the work's *topic*, a log that any replica reads:

- ``listen(topic)`` fixes a position (the log's end now, or its start) before the caller
  does what produces events, so none are missed; iterating it yields the events after that
  position until an end mark (``publish(topic, None)``: a segment of work ended).
- ``signal(kind, target)`` calls every replica's handlers of ``kind`` with ``target``:
  a cancel asks the replica holding the work to stop it now (the runner cancels its
  task; the database write of the new status stays the caller's), and a change to keys
  empties every replica's principal cache.

Two implementations, one behaviour (tested on both): ``MemoryBus`` for one process, and
``RedisBus`` (``HEARTH_REDIS_URL``) over Redis Streams (``XADD`` / ``XREAD BLOCK``; a
topic expires ``ttl`` seconds after its last event) and one Pub/Sub channel for signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

TTL_SECONDS = 3600.0
"""How long a topic is kept after its last event: a background response's stream can be
resumed (``starting_after``) for that long."""

SignalHandler = Callable[[str], None]
"""Called on the event loop with a signal's target (e.g. ``JobRunner.cancel`` with the id of
work to stop)."""


Listener = AsyncGenerator[str, None]
"""Events of one topic after a fixed position, up to an end mark; iterate once (nothing is
held until the first event is asked for)."""


class EventBus(Protocol):
    """Topics of events (JSON text) and signals shared by the replicas."""

    shared: bool
    """Whether other processes share this bus (Redis), so other replicas can answer."""

    async def listen(self, topic: str, *, from_start: bool = False) -> Listener:
        """The events of ``topic`` after its end now (or from its first with
        ``from_start``), up to the next end mark."""
        ...

    async def publish(self, topic: str, data: str | None) -> None:
        """Append ``data`` to ``topic``; ``None`` appends an end mark."""
        ...

    async def exists(self, topic: str) -> bool:
        """Whether ``topic`` still holds events (it expires ``ttl`` after the last)."""
        ...

    def on_signal(self, kind: str, handler: SignalHandler) -> None:
        """Call ``handler(target)`` on every ``signal(kind, target)``, from any replica."""
        ...

    async def signal(self, kind: str, target: str) -> None:
        """Call the handlers of ``kind`` with ``target`` on every replica (this one first)."""
        ...

    async def start(self) -> None:
        """Start receiving signals (on the serving event loop)."""
        ...

    async def close(self) -> None:
        """Stop receiving and drop connections."""
        ...


def build(redis_url: str | None, ttl: float = TTL_SECONDS) -> EventBus:
    """``RedisBus`` when ``redis_url`` is set, else ``MemoryBus``."""
    return RedisBus(redis_url, ttl) if redis_url else MemoryBus(ttl)


# --- one process ----------------------------------------------------------------------


@dataclass
class _Topic:
    events: list[str | None] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    touched: float = field(default_factory=time.monotonic)


class MemoryBus:
    """The bus of a single process (no Redis): topics in memory, signals called here."""

    shared = False

    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self._ttl = ttl
        self._topics: dict[str, _Topic] = {}
        self._handlers: dict[str, list[SignalHandler]] = {}

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            self._sweep()
            topic = self._topics[name] = _Topic()
        return topic

    def _sweep(self) -> None:
        cutoff = time.monotonic() - self._ttl
        for name in [n for n, t in self._topics.items() if t.touched < cutoff]:
            del self._topics[name]

    async def listen(self, topic: str, *, from_start: bool = False) -> Listener:
        entry = self._topic(topic)
        return self._read(entry, 0 if from_start else len(entry.events))

    async def _read(self, topic: _Topic, position: int) -> Listener:
        while True:
            while position < len(topic.events):
                data = topic.events[position]
                position += 1
                if data is None:
                    return
                yield data
            topic.changed.clear()
            if position >= len(topic.events):
                await topic.changed.wait()

    async def publish(self, topic: str, data: str | None) -> None:
        entry = self._topic(topic)
        entry.events.append(data)
        entry.touched = time.monotonic()
        entry.changed.set()

    async def exists(self, topic: str) -> bool:
        entry = self._topics.get(topic)
        return entry is not None and entry.touched >= time.monotonic() - self._ttl

    def on_signal(self, kind: str, handler: SignalHandler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def signal(self, kind: str, target: str) -> None:
        for handler in self._handlers.get(kind, ()):
            handler(target)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


# --- replicas over Redis --------------------------------------------------------------

_PREFIX = "hearth:events:"
_SIGNALS = "hearth:signals"
_BLOCK_MS = 5000


class RedisBus:
    """The bus of replicas sharing one Redis: a topic is the stream ``hearth:events:<topic>``
    (field ``d``: the event; ``end``: an end mark), signals go through the channel
    ``hearth:signals`` as ``<kind> <target>``."""

    shared = True

    def __init__(self, url: str, ttl: float = TTL_SECONDS) -> None:
        self._url = url
        self._ttl = int(max(1, ttl))
        self._handlers: dict[str, list[SignalHandler]] = {}
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._receiver: asyncio.Task[None] | None = None

    def _redis(self) -> aioredis.Redis:
        # a client per event loop: redis-py's asyncio connections belong to one loop
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = aioredis.Redis.from_url(self._url, decode_responses=True)
            self._loop = loop
        return self._client

    async def listen(self, topic: str, *, from_start: bool = False) -> Listener:
        key = _PREFIX + topic
        position = "0-0"
        if not from_start:
            last: Any = await self._redis().xrevrange(key, count=1)
            if last:
                position = str(last[0][0])
        return self._read(key, position)

    async def _read(self, key: str, position: str) -> Listener:
        # a connection of its own: XREAD BLOCK holds it while waiting
        client = aioredis.Redis.from_url(self._url, decode_responses=True)
        try:
            while True:
                answer: Any = await client.xread({key: position}, count=256, block=_BLOCK_MS)
                for _, entries in answer or ():
                    for entry_id, fields in entries:
                        position = str(entry_id)
                        if "end" in fields:
                            return
                        yield str(fields["d"])
        finally:
            await client.aclose()

    async def publish(self, topic: str, data: str | None) -> None:
        key = _PREFIX + topic
        fields: dict[Any, Any] = {"end": "1"} if data is None else {"d": data}
        async with self._redis().pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields)
            pipe.expire(key, self._ttl)
            await pipe.execute()

    async def exists(self, topic: str) -> bool:
        return bool(await self._redis().exists(_PREFIX + topic))

    def on_signal(self, kind: str, handler: SignalHandler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def signal(self, kind: str, target: str) -> None:
        self._dispatch(kind, target)  # here at once; other replicas through the channel
        await self._redis().publish(_SIGNALS, f"{kind} {target}")

    def _dispatch(self, kind: str, target: str) -> None:
        for handler in self._handlers.get(kind, ()):
            handler(target)

    async def start(self) -> None:
        if self._receiver is None:
            ready = asyncio.Event()
            self._receiver = asyncio.create_task(self._receive(ready), name="event-bus-signals")
            await asyncio.wait_for(ready.wait(), 10)

    async def _receive(self, ready: asyncio.Event) -> None:
        while True:
            client = aioredis.Redis.from_url(self._url, decode_responses=True)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(_SIGNALS)
                    ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        kind, _, target = str(message["data"]).partition(" ")
                        self._dispatch(kind, target)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis restarted: subscribe again (cancels meanwhile are
                # still applied through the lease, which a cancel drops; key changes
                # through the principal cache's TTL)
                log.exception("receiving signals from Redis failed; retrying")
                await asyncio.sleep(1)
            finally:
                await client.aclose()

    async def close(self) -> None:
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
