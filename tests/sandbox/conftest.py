"""A real ``Sandboxes`` (bubblewrap, seccomp, cgroups, Jupyter kernels) over a temporary
data dir. Needs root and bubblewrap: without them these tests skip, or fail with the
reason when ``HEARTH_REQUIRE_SANDBOX=1`` (CI; ``tests.conftest.require_sandbox``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hearth.config import Settings
from hearth.sandbox import Sandboxes
from tests.conftest import require_sandbox

PROCESSES = 32
DISK_MB = 16.0


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox-data")


@pytest.fixture(scope="module")
def sandboxes(sandbox_dir: Path) -> Iterator[Sandboxes]:
    settings = Settings(
        data_dir=sandbox_dir,
        code_interpreter_processes=PROCESSES,
        code_interpreter_disk_mb=DISK_MB,
        code_interpreter_call_seconds=20.0,
    )
    boxes = require_sandbox(Sandboxes(settings.sandbox))
    yield boxes
    await_close(boxes)


@pytest.fixture
async def container(sandboxes: Sandboxes) -> AsyncIterator[str]:
    """A fresh 1g container, destroyed after the test."""
    cid = f"cntr_{os.urandom(8).hex()}"
    await sandboxes.create(cid, sandboxes.limits("1g"))
    yield cid
    await sandboxes.destroy(cid)


def await_close(boxes: Sandboxes) -> None:
    """Close ``boxes`` from a sync fixture (its containers are already destroyed)."""
    import asyncio

    asyncio.run(boxes.close())


def logs(execution: object) -> str:
    """All ``logs`` outputs of an execution, joined."""
    return "".join(o.logs for o in execution.outputs if o.type == "logs")  # type: ignore[attr-defined]
