"""LazyModel, AudioWorkers and ThreadStream with fake models (no speech weights)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hearth.audio.slots import AudioWorkers, LazyModel, ThreadStream
from hearth.errors import InvalidRequest, RateLimited, ServiceUnavailable


def test_concurrent_first_users_load_once() -> None:
    loads: list[int] = []

    def load() -> str:
        time.sleep(0.05)
        loads.append(1)
        return "model"

    slot = LazyModel("m", load, idle_unload=10)
    seen: list[str] = []

    def use() -> None:
        with slot.use() as model:
            seen.append(model)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [1] and seen == ["model"] * 4


def test_idle_unload_waits_for_users_and_the_idle_period() -> None:
    now = [0.0]
    slot = LazyModel("m", lambda: object(), idle_unload=5, clock=lambda: now[0])
    with slot.use():
        now[0] = 100
        assert not slot.unload_if_idle()  # in use
    now[0] = 104
    assert not slot.unload_if_idle()
    now[0] = 105
    assert slot.unload_if_idle() and not slot.loaded
    with slot.use():
        pass
    assert slot.loads == 2


def test_load_failure_is_503_and_retried_next_time() -> None:
    attempts: list[int] = []

    def load() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk on fire")
        return "ok"

    slot = LazyModel("m", load, idle_unload=5)
    with pytest.raises(ServiceUnavailable, match="disk on fire"), slot.use():
        pass
    with slot.use() as model:
        assert model == "ok"


def test_workers_refuse_beyond_capacity() -> None:
    workers = AudioWorkers(workers=1, max_waiting=1)
    gate = threading.Event()
    running = [workers.submit(gate.wait), workers.submit(gate.wait)]
    with pytest.raises(RateLimited):
        workers.submit(lambda: None)
    gate.set()
    for f in running:
        f.result(timeout=5)
    assert workers.submit(lambda: 7).result(timeout=5) == 7
    workers.close()


@pytest.mark.anyio
async def test_thread_stream_yields_items_and_errors() -> None:
    workers = AudioWorkers(1, 0)

    def produce(emit: Callable[[int], None]) -> None:
        emit(1)
        emit(2)
        raise InvalidRequest("bad audio", param="file")

    got: list[int] = []
    with pytest.raises(InvalidRequest, match="bad audio"):
        async for item in ThreadStream(workers, produce):
            got.append(item)
    assert got == [1, 2]
    workers.close()


@pytest.mark.anyio
async def test_a_finished_stream_frees_its_worker_before_it_ends() -> None:
    workers = AudioWorkers(1, 0)
    for _ in range(20):  # back to back on a single worker: never a false 429
        assert [i async for i in ThreadStream(workers, lambda emit: emit(1))] == [1]
        assert workers.in_flight == 0
    workers.close()


@pytest.mark.anyio
async def test_thread_stream_stops_the_producer_when_the_consumer_leaves() -> None:
    workers = AudioWorkers(1, 0)
    stopped = threading.Event()
    emitted: list[int] = []

    def produce(emit: Callable[[int], None]) -> None:
        try:
            for i in range(1000):
                emit(i)
                emitted.append(i)
                time.sleep(0.005)
        finally:
            stopped.set()

    stream = aiter(ThreadStream(workers, produce))
    assert await anext(stream) == 0
    await stream.aclose()  # type: ignore[attr-defined]
    assert stopped.wait(5) and len(emitted) < 1000
    workers.close()


def test_unknown_alias_target_fails_at_start(tmp_path: Path) -> None:
    from hearth.audio.registry import AudioRegistry
    from tests.conftest import test_settings as make_settings

    settings = make_settings(tmp_path, audio_model_aliases={"whisper-1": "whisper-large"})
    with pytest.raises(ValueError, match="whisper-large"):
        AudioRegistry.build(settings.speech)
