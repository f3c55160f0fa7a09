"""A container's sandbox reached from another replica (``hearth.services.container_hosts``):
two ``Hosts`` on one real Redis stand for two replicas, each over a fake ``Sandboxes`` (a
unit test: the real sandboxes across real replicas are in tests/e2e/test_replicas.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from hearth.errors import InvalidRequest, NotFound
from hearth.jobs.bus import MemoryBus, RedisBus
from hearth.sandbox import Execution, Output, SandboxFile
from hearth.services import container_hosts
from hearth.services.container_hosts import HolderGone, Hosts

pytestmark = pytest.mark.anyio


@dataclass
class _Settings:
    call_seconds: float = 1.0


@dataclass
class FakeSandboxes:
    """One sandbox, ``cntr_a``, with files in a dict."""

    files: dict[str, bytes] = field(default_factory=dict)
    destroyed: list[str] = field(default_factory=list)
    settings: _Settings = field(default_factory=_Settings)

    def exists(self, container_id: str) -> bool:
        return container_id == "cntr_a" and not self.destroyed

    async def run(self, container_id: str, code: str, timeout: float | None = None) -> Execution:
        return Execution(
            status="completed",
            outputs=[Output("logs", logs=f"ran {code}\n"), Output("image", png=b"\x89PNG\0")],
            files=[SandboxFile(p, len(b), 1.5) for p, b in self.files.items()],
        )

    async def write_file(self, container_id: str, name: str, data: bytes) -> SandboxFile:
        if len(data) > 10:
            raise InvalidRequest("The container's disk is full.", param="file", code="disk_full")
        self.files[f"/mnt/data/{name}"] = data
        return SandboxFile(f"/mnt/data/{name}", len(data), 2.0)

    async def read_file(self, container_id: str, path: str) -> bytes:
        if path not in self.files:
            raise NotFound(f"No file {path}.", param="file_id")
        return self.files[path]

    async def delete_file(self, container_id: str, path: str) -> None:
        del self.files[path]

    async def destroy(self, container_id: str) -> None:
        self.destroyed.append(container_id)


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[Hosts, Hosts, FakeSandboxes]]:
    """``(holder, other, holder's sandboxes)``."""
    buses = [RedisBus(redis_url), RedisBus(redis_url)]
    for bus in buses:
        await bus.start()
    sandboxes = FakeSandboxes()
    holder = Hosts(sandboxes, buses[0])  # type: ignore[arg-type]
    other = Hosts(FakeSandboxes(), buses[1])  # type: ignore[arg-type]
    try:
        yield holder, other, sandboxes
    finally:
        for bus in buses:
            await bus.close()


async def test_another_replicas_sandbox_is_used_through_the_bus(
    replicas: tuple[Hosts, Hosts, FakeSandboxes],
) -> None:
    holder, other, sandboxes = replicas
    host = other.of("cntr_a", holder.replica)
    assert await host.exists()
    written = await host.write_file("notes.txt", b"kept")
    assert written == SandboxFile("/mnt/data/notes.txt", 4, 2.0)
    assert sandboxes.files == {"/mnt/data/notes.txt": b"kept"}
    assert await host.read_file("/mnt/data/notes.txt") == b"kept"
    done = await host.run("print(6 * 7)", None)
    assert done.status == "completed" and done.outputs[0].logs == "ran print(6 * 7)\n"
    assert done.outputs[1].png == b"\x89PNG\0"  # bytes survive the trip
    assert done.files == [SandboxFile("/mnt/data/notes.txt", 4, 1.5)]
    await host.delete_file("/mnt/data/notes.txt")
    assert sandboxes.files == {}
    await host.destroy()
    assert sandboxes.destroyed == ["cntr_a"] and not await host.exists()


async def test_the_holders_errors_are_the_same_errors_here(
    replicas: tuple[Hosts, Hosts, FakeSandboxes],
) -> None:
    holder, other, _ = replicas
    host = other.of("cntr_a", holder.replica)
    with pytest.raises(NotFound) as missing:
        await host.read_file("/mnt/data/none")
    assert (missing.value.message, missing.value.param) == ("No file /mnt/data/none.", "file_id")
    with pytest.raises(InvalidRequest) as full:
        await host.write_file("big.bin", b"x" * 11)
    assert full.value.code == "disk_full" and full.value.status_code == 400


async def test_a_stopped_holder_is_gone(
    replicas: tuple[Hosts, Hosts, FakeSandboxes], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, other, _ = replicas
    monkeypatch.setattr(container_hosts, "ANSWER_SECONDS", 0.3)
    started = time.monotonic()
    with pytest.raises(HolderGone):
        await other.of("cntr_a", "no-such-replica").exists()
    assert time.monotonic() - started < 2


async def test_without_a_shared_bus_another_replicas_sandbox_is_gone_at_once() -> None:
    hosts = Hosts(FakeSandboxes(), MemoryBus())  # type: ignore[arg-type]
    assert await hosts.of("cntr_a", None).exists()  # an old row: this process's sandboxes
    assert await hosts.of("cntr_a", hosts.replica).exists()
    with pytest.raises(HolderGone):
        await hosts.of("cntr_a", "earlier-process").exists()
