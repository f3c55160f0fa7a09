"""Lazily loaded speech models and the bounded worker pool that runs them.

Speech models are big and used in bursts, so ``hearth serve`` starts without them: a
``LazyModel`` loads on first use (once, however many requests arrive together) and a
sweep unloads it after an idle period. All model work runs on ``AudioWorkers`` threads
(CTranslate2, onnxruntime and FFmpeg release the GIL), never on the event loop; past
``workers + max_waiting`` requests in flight, new ones get a 429 instead of queueing
without bound.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import aclosing, contextmanager
from typing import Any, Generic, TypeVar

from hearth.errors import HearthError, InternalError, RateLimited, ServiceUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class LazyModel(Generic[T]):
    """A model built by ``load()`` on first ``use()`` and dropped by ``unload_if_idle``
    once unused for ``idle_unload`` seconds (``clock``: monotonic seconds)."""

    def __init__(
        self,
        name: str,
        load: Callable[[], T],
        idle_unload: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._load = load
        self._idle_unload = idle_unload
        self._clock = clock
        self._lock = threading.Lock()
        self._model: T | None = None
        self._users = 0
        self._last_used = 0.0
        self.loads = 0

    @contextmanager
    def use(self) -> Iterator[T]:
        """The loaded model for the duration of the block (call from a worker thread).
        Raises ``ServiceUnavailable`` when loading fails."""
        with self._lock:  # concurrent first users wait here: one load
            if self._model is None:
                started = time.monotonic()
                try:
                    self._model = self._load()
                except Exception as exc:
                    log.exception("loading %s failed", self.name)
                    raise ServiceUnavailable(
                        f"The model `{self.name}` could not be loaded: {exc}",
                        code="model_unavailable",
                    ) from None
                self.loads += 1
                log.info("loaded %s in %.2f s", self.name, time.monotonic() - started)
            self._users += 1
            model = self._model
        try:
            yield model
        finally:
            with self._lock:
                self._users -= 1
                self._last_used = self._clock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def unload_if_idle(self) -> bool:
        """Drop the model if nobody uses it and it has idled long enough; True if it did."""
        with self._lock:
            idle = self._clock() - self._last_used
            if self._model is None or self._users or idle < self._idle_unload:
                return False
            self._model = None
        log.info("unloaded %s after %.0f s idle", self.name, idle)
        return True

    def stats(self) -> dict[str, Any]:
        """``{"loaded", "loads", "in_use"}``."""
        return {"loaded": self.loaded, "loads": self.loads, "in_use": self._users}


class AudioWorkers:
    """``workers`` threads for model work; at most ``max_waiting`` jobs wait for one."""

    def __init__(self, workers: int, max_waiting: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="hearth-audio")
        self._capacity = workers + max_waiting
        self._lock = threading.Lock()
        self._in_flight = 0
        self.cancelled = 0
        """Streamed jobs stopped early because their client went away."""

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue ``fn``; raises ``RateLimited`` (429) when the queue is full and
        ``ServiceUnavailable`` (503) once the server is shutting down."""
        with self._lock:
            if self._in_flight >= self._capacity:
                raise RateLimited(
                    "Too many audio requests are in progress on this server; "
                    "retry after a short wait."
                )
            self._in_flight += 1
        try:
            future = self._executor.submit(fn)
        except RuntimeError:  # shut down
            self._done(None)
            raise ServiceUnavailable("The server is shutting down.") from None
        future.add_done_callback(self._done)
        return future

    def note_cancelled(self) -> None:
        with self._lock:
            self.cancelled += 1

    def _done(self, _: Future[Any] | None) -> None:
        with self._lock:
            self._in_flight -= 1

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a worker; cancelling the await drops it if not yet started."""
        return await asyncio.wrap_future(self.submit(fn))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class Cancelled(Exception):
    """Raised inside a producer by ``emit`` once its consumer went away."""


class ThreadStream(Generic[T]):
    """Items a producer running on a worker thread emits, as an async iterator.

    ``produce(emit)`` calls ``emit(item)`` for each item; ``emit`` raises ``Cancelled``
    once the consumer stopped (client gone), so the producer stops between items. The job
    is submitted at construction, so a full queue raises ``RateLimited`` before any
    response starts; the producer's own ``HearthError`` comes out of the iteration.
    """

    def __init__(self, workers: AudioWorkers, produce: Callable[[Callable[[T], None]], None]):
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._stop = threading.Event()
        self._produce = produce
        self._workers = workers
        self._future = workers.submit(self._job)
        # runs after the worker's own done-callback, so the job no longer counts as in
        # flight when the consumer sees the end (back-to-back requests get no false 429)
        self._future.add_done_callback(self._finished)

    def _put(self, kind: str, value: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, value))
        except RuntimeError:  # loop closed: nobody is listening
            self._stop.set()

    def _emit(self, item: T) -> None:
        if self._stop.is_set():
            raise Cancelled
        self._put("item", item)

    def _job(self) -> None:
        try:
            self._produce(self._emit)
        except Cancelled:
            self._workers.note_cancelled()

    def _finished(self, future: Future[None]) -> None:
        if future.cancelled():  # dropped from the queue (shutdown, or the consumer left)
            self._put("error", ServiceUnavailable("The audio job was cancelled."))
            return
        exc = future.exception()
        if exc is None:
            self._put("done", None)
        elif isinstance(exc, HearthError):
            self._put("error", exc)
        else:
            log.error("audio job failed", exc_info=exc)
            self._put(
                "error",
                exc if isinstance(exc, Exception) else InternalError("The audio job failed."),
            )

    async def __aiter__(self) -> AsyncGenerator[T, None]:
        try:
            while True:
                kind, value = await self._queue.get()
                if kind == "done":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            self.close()

    async def started(self) -> AsyncGenerator[T, None]:
        """Wait for the first item, so a failure before it (bad audio, a model that will
        not load) raises here, before any response starts; then every item, the first
        included. Closing the returned generator stops the producer."""
        items = aiter(self)
        try:
            first = [await anext(items)]
        except StopAsyncIteration:
            first = []
        return _prepend(first, items)

    def close(self) -> None:
        """Stop the producer at its next item (or before it starts)."""
        self._stop.set()
        self._future.cancel()


async def _prepend(first: list[T], rest: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    async with aclosing(rest):
        for item in first:
            yield item
        async for item in rest:
            yield item
