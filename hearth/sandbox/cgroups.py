"""Memory and process limits per container through Linux control groups (v1 or v2).

A container's processes all join one cgroup (``memory`` + ``pids``): its memory, page
cache and the in-memory ``/mnt/data`` count together against ``memory_limit`` (no swap),
and the kernel's OOM killer acts inside it alone; ``pids.max`` caps its processes and
threads, so a fork bomb stops there. Killing every process of the cgroup is how a
container is stopped for sure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


class CgroupsUnavailable(Exception):
    """No writable memory + pids cgroup here; the message says what is missing."""


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, super options) of every cgroup mount."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if tail and tail[0] in ("cgroup", "cgroup2"):
            found.append((fields[4], tail[0], set(tail[2].split(",")) if len(tail) > 2 else set()))
    return found


def _own_paths() -> dict[str, str]:
    """Controller (``memory``, ``pids``; ``""`` for v2) -> this process's cgroup path."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            paths[c] = path
    return paths


@dataclass(frozen=True)
class Hierarchy:
    """Where Hearth puts container cgroups: one directory per controller it uses (v1:
    ``memory`` and ``pids`` hierarchies; v2: one directory with both enabled)."""

    dirs: tuple[Path, ...]
    version: int

    @staticmethod
    def find(name: str) -> Hierarchy:
        """Make (or reuse) ``name`` under this process's own cgroups. Raises
        ``CgroupsUnavailable`` with the reason."""
        mounts, own = _mounts(), _own_paths()
        v1 = {c: m for m, t, opts in mounts if t == "cgroup" for c in opts}
        try:
            if "memory" in v1 and "pids" in v1:
                dirs = tuple(
                    Path(v1[c]) / own.get(c, "/").lstrip("/") / name for c in ("memory", "pids")
                )
                for d in dirs:
                    d.mkdir(parents=True, exist_ok=True)
                return Hierarchy(dirs, 1)
            v2 = [m for m, t, _ in mounts if t == "cgroup2"]
            for mount in v2:
                base = Path(mount) / own.get("", "/").lstrip("/")
                enabled = set((base / "cgroup.subtree_control").read_text().split())
                if not {"memory", "pids"} <= enabled:
                    continue
                d = base / name
                d.mkdir(exist_ok=True)
                (d / "cgroup.subtree_control").write_text("+memory +pids")
                return Hierarchy((d,), 2)
        except OSError as e:
            raise CgroupsUnavailable(f"cannot create a cgroup for containers: {e}") from e
        raise CgroupsUnavailable(
            "no memory and pids cgroup controllers to use (cgroup v1 hierarchies for both, "
            "or cgroup v2 with both delegated to Hearth's cgroup)"
        )

    def group(self, name: str) -> Cgroup:
        """The (not yet made) cgroup ``name`` under this hierarchy."""
        return Cgroup(tuple(d / name for d in self.dirs), self.version)

    def children(self) -> list[Cgroup]:
        """Every container cgroup now present (for reaping after a crash)."""
        names = {p.name for d in self.dirs if d.is_dir() for p in d.iterdir() if p.is_dir()}
        return [self.group(n) for n in sorted(names)]


@dataclass(frozen=True)
class Cgroup:
    """One container's cgroup (a directory per hierarchy)."""

    dirs: tuple[Path, ...]
    version: int

    def create(self, memory_bytes: int, processes: int) -> None:
        """Make it with its limits: memory (+ swap: none) and processes."""
        for d in self.dirs:
            d.mkdir(exist_ok=True)
        if self.version == 1:
            memory, pids = self.dirs
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            swap = memory / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(memory_bytes))
            (pids / "pids.max").write_text(str(processes))
        else:
            (d,) = self.dirs
            (d / "memory.max").write_text(str(memory_bytes))
            if (d / "memory.swap.max").exists():
                (d / "memory.swap.max").write_text("0")
            (d / "pids.max").write_text(str(processes))

    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a new process writes its pid to (one per hierarchy),
        opened before fork so joining needs no allocation in the child."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        """Processes now in it."""
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError):
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
        return found

    def memory_bytes(self) -> int:
        """Memory in use now (bytes), page cache and ``/mnt/data`` included."""
        name = "memory.usage_in_bytes" if self.version == 1 else "memory.current"
        try:
            return int((self.dirs[0] / name).read_text())
        except OSError:
            return 0

    def oom_kills(self) -> int:
        """Processes the OOM killer has killed in it so far."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            text = (self.dirs[0] / name).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def kill(self, timeout: float = 5.0) -> None:
        """SIGKILL everything in it until it is empty (a fork racing the kill is caught
        on the next pass), then remove it."""
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        for d in self.dirs:
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    # a killed process leaves the cgroup a moment after it dies
                    time.sleep(0.02)
