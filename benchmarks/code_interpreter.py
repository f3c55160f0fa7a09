"""Code interpreter benchmark: what a sandboxed container costs over a bare Jupyter kernel.

Drives ``hearth.sandbox.Sandboxes`` directly (no server, no HTTP) on a fresh temp data dir,
with 1g containers, and compares each figure with a bare ``jupyter_client`` kernel started
on the same machine without any sandbox, in the same run:

1. **Cold start to first result.** Hearth: from ``create(cid, limits("1g"))`` to the
   return of ``run(cid, "print(1)")`` (mount, cgroup, bwrap + setpriv + seccomp, the
   kernel's start, Hearth's readiness check, the call), on a fresh container each round,
   destroyed afterwards (not timed). Reference: from ``AsyncKernelManager.start_kernel``
   to the ``idle`` status of the same ``print(1)``. ``--rounds`` (10) rounds after one
   warm-up each; the two sides alternate which goes first. ``breakdown_s``: when
   ``create`` returned and when each kernel passed the readiness check. **Goal: Hearth
   p50 <= 1.5 s.**
2. **Warm call.** ``run(cid, "print(1)")`` on a container whose kernel is running, and the
   same execute on a running reference kernel, alternating call by call, ``--warm-calls``
   (50) each after 3 warm-up calls each. **Goal: Hearth p50 <= 50 ms.**
3. **Memory per idle container.** ``--containers`` (5) containers are started, each runs
   ``print(1)``, then after 1 s idle ``describe()`` gives each container's cgroup memory
   (``memory_bytes``: processes, page cache charged to it, its tmpfs files). The same
   number of bare kernels then run ``print(1)`` and idle 1 s; their RSS (psutil, the
   kernel's process tree) is the reference. Both sides also get RSS/PSS/USS of their
   processes, the like-for-like comparison. ``fit_in_4_gib`` = 4 GiB ÷ mean.

The reference kernel is made as close to Hearth's as the sandbox allows, so that the
ratios measure the sandbox: the same Python (this interpreter), the same kernel arguments
(``--HistoryManager.enabled=False --InteractiveShell.colors=NoColor``), the same
environment variables as ``hearth/sandbox/manager.py`` sets (a fresh ``HOME`` and
``IPYTHONDIR`` per kernel, as a container's ``/tmp`` is fresh), and the same readiness
check as Hearth's (``kernel_info`` resent every 0.1 s until the ``status`` of one arrives on
iopub; jupyter_client's own ``wait_for_ready`` ends with a 0.2 s iopub flush that would
penalize the reference). It keeps jupyter_client's defaults otherwise: TCP on 127.0.0.1
(Hearth uses Unix sockets), no namespaces, no cgroup, no other user.

Needs root, bubblewrap, setpriv, libseccomp and memory + pids cgroups (``Sandboxes.reason``
says what is missing; the script exits with it). Prints one JSON document on stdout
(progress and a short summary go to stderr); nothing here asserts on the figures.

Usage: .venv/bin/python benchmarks/code_interpreter.py [--rounds 10] [--warm-calls 50]
           [--containers 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import queue
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jupyter_client
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import finite, machine_busy_seconds  # noqa: E402

from hearth import __version__ as hearth_version  # noqa: E402
from hearth.config import Settings  # noqa: E402
from hearth.sandbox import Sandboxes  # noqa: E402

CODE = "print(1)"
EXPECTED = "1\n"
MEMORY_LIMIT = "1g"
KERNEL_ARGS = ["--HistoryManager.enabled=False", "--InteractiveShell.colors=NoColor"]
"""The kernel arguments Hearth's containers start ipykernel with."""
GOALS = {"cold_p50_s": 1.5, "warm_p50_ms": 50.0}
FOUR_GIB = 4 * 2**30
IDLE_SECONDS = 1.0
CALL_TIMEOUT = 60.0


def log(message: str) -> None:
    """Progress line on stderr (stdout carries only the JSON result)."""
    print(f"[code_interpreter] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values: list[float], scale: float = 1.0) -> dict[str, Any]:
    """n, p50, p90, mean, min, max of ``values`` × ``scale``."""
    xs = [v * scale for v in values]
    return {
        "n": len(xs),
        "p50": percentile(xs, 0.5),
        "p90": percentile(xs, 0.9),
        "mean": statistics.fmean(xs) if xs else float("nan"),
        "min": min(xs) if xs else float("nan"),
        "max": max(xs) if xs else float("nan"),
    }


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def new_cid() -> str:
    return f"cntr_{secrets.token_hex(12)}"


# --------------------------------------------------------------------------- the two sides


class Hearth:
    """Hearth's containers through ``Sandboxes``."""

    def __init__(self, sandboxes: Sandboxes) -> None:
        self.sandboxes = sandboxes
        self.limits = sandboxes.limits(MEMORY_LIMIT)
        self.bad_outputs: list[str] = []
        self.created_s: list[float] = []  # cold rounds: create() returned
        self.ready_s: list[float] = []  # cold rounds: kernel answered kernel_info

    async def start(self) -> str:
        cid = new_cid()
        await self.sandboxes.create(cid, self.limits)
        return cid

    async def call(self, cid: str) -> None:
        execution = await self.sandboxes.run(cid, CODE, timeout=CALL_TIMEOUT)
        text = "".join(o.logs for o in execution.outputs if o.type == "logs")
        if execution.status != "completed" or text != EXPECTED:
            self.bad_outputs.append(f"{execution.status}: {text!r} {execution.error or ''}")

    async def cold(self) -> float:
        """``create`` + first ``run``, then ``destroy`` (not timed). Notes when ``create``
        returned (the mount) and when the background start found the kernel ready."""
        cid = new_cid()
        started = time.perf_counter()
        try:
            await self.sandboxes.create(cid, self.limits)
            self.created_s.append(time.perf_counter() - started)
            warming = self.sandboxes._boxes[cid].warming  # noqa: SLF001 - a benchmark looks inside
            if warming is not None:  # run() would wait for it (the box's lock) anyway
                await asyncio.wait({warming})
                self.ready_s.append(time.perf_counter() - started)
            await self.call(cid)
            return time.perf_counter() - started
        finally:
            await self.sandboxes.destroy(cid)

    async def stop(self, cid: str) -> None:
        await self.sandboxes.destroy(cid)

    def memory(self, cid: str) -> dict[str, Any]:
        row = next(r for r in self.sandboxes.describe() if r["id"] == cid)
        # the container's processes and its cgroup's breakdown are not in ``describe``
        box = self.sandboxes._boxes[cid]  # noqa: SLF001 - a benchmark looks inside
        return {
            "memory_bytes": row["memory_bytes"],
            "processes": row["processes"],
            **process_memory(sorted(box.cgroup.pids())),
            "cgroup_stat": cgroup_stat(box.cgroup.dirs[0], box.cgroup.version),
        }


@dataclass
class Kernel:
    manager: Any
    client: Any
    home: tempfile.TemporaryDirectory[str]


class Reference:
    """Bare ``jupyter_client`` kernels: no namespaces, cgroup, other user or seccomp."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.count = 0
        self.bad_outputs: list[str] = []
        self.ready_s: list[float] = []  # cold rounds: kernel answered kernel_info

    def _env(self, home: str) -> dict[str, str]:
        """The variables ``Sandboxes._command`` gives a container's kernel."""
        return {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "USER": os.environ.get("USER", "root"),
            "LANG": "C.UTF-8",
            "IPYTHONDIR": f"{home}/.ipython",
            "MPLCONFIGDIR": f"{home}/.matplotlib",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }

    async def start(self) -> Kernel:
        from jupyter_client.manager import AsyncKernelManager

        self.count += 1
        home = tempfile.TemporaryDirectory(prefix="home-", dir=self.tmp)
        manager = AsyncKernelManager(
            kernel_name="python3",
            connection_file=str(self.tmp / f"kernel-{self.count}.json"),
        )
        # the kernel's output goes to a file, as a container's goes to its kernel.log
        kernel_log = open(self.tmp / f"kernel-{self.count}.log", "wb")  # noqa: SIM115
        try:
            await manager.start_kernel(
                extra_arguments=KERNEL_ARGS,
                env=self._env(home.name),
                stdout=kernel_log,
                stderr=kernel_log,
            )
            client = manager.client()
            client.start_channels()
            kernel = Kernel(manager, client, home)
            await self._ready(kernel)
        except BaseException:
            with contextlib.suppress(Exception):
                await manager.shutdown_kernel(now=True)
            home.cleanup()
            raise
        finally:
            kernel_log.close()  # the kernel holds its own copy
        return kernel

    @staticmethod
    async def _ready(kernel: Kernel) -> None:
        """Hearth's readiness check: a ``kernel_info`` whose status arrives on iopub."""
        client = kernel.client
        deadline = time.monotonic() + 30
        asked: set[str] = set()
        while True:
            asked.add(client.kernel_info())
            step_end = time.monotonic() + 0.1
            while time.monotonic() < step_end:
                try:
                    msg = await client.get_iopub_msg(timeout=0.02)
                except queue.Empty:
                    continue
                if msg["parent_header"].get("msg_id") in asked:
                    await drain_shell(client)
                    return
            if not await kernel.manager.is_alive():
                raise RuntimeError("the reference kernel exited")
            if time.monotonic() > deadline:
                raise RuntimeError("the reference kernel did not answer in time")

    async def call(self, kernel: Kernel) -> None:
        """Execute ``print(1)`` until its ``idle`` status, as ``Sandboxes._execute`` does."""
        client = kernel.client
        msg_id = client.execute(CODE, store_history=True, allow_stdin=False, stop_on_error=False)
        text: list[str] = []
        while True:
            msg = await client.get_iopub_msg(timeout=CALL_TIMEOUT)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                break
            if kind == "stream":
                text.append(content.get("text", ""))
        await drain_shell(client)
        if "".join(text) != EXPECTED:
            self.bad_outputs.append(repr("".join(text)))

    async def cold(self) -> float:
        """Start a kernel + first execute, then shut it down (not timed)."""
        started = time.perf_counter()
        kernel = await self.start()
        self.ready_s.append(time.perf_counter() - started)
        try:
            await self.call(kernel)
            return time.perf_counter() - started
        finally:
            await self.stop(kernel)

    async def stop(self, kernel: Kernel) -> None:
        with contextlib.suppress(Exception):
            kernel.client.stop_channels()
        with contextlib.suppress(Exception):
            await kernel.manager.shutdown_kernel(now=True)
        kernel.home.cleanup()

    @staticmethod
    def memory(kernel: Kernel) -> dict[str, Any]:
        pid = kernel.manager.provisioner.process.pid
        try:
            root = psutil.Process(pid)
            pids = [pid] + [c.pid for c in root.children(recursive=True)]
        except psutil.Error:
            pids = []
        return {"processes": len(pids), **process_memory(pids)}


async def drain_shell(client: Any) -> None:
    with contextlib.suppress(queue.Empty):
        while True:
            await client.get_shell_msg(timeout=0)


def process_memory(pids: list[int]) -> dict[str, int]:
    """RSS, PSS and USS summed over ``pids`` (PSS/USS from ``/proc/<pid>/smaps``)."""
    rss = pss = uss = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            info = psutil.Process(pid).memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", 0)
            uss += info.uss
    return {"rss_bytes": rss, "pss_bytes": pss, "uss_bytes": uss}


def cgroup_stat(directory: Path, version: int) -> dict[str, int]:
    """What the container's cgroup memory is made of (v1: rss/cache/shmem/mapped_file;
    v2: anon/file/shmem/kernel)."""
    keys = (
        ("rss", "cache", "shmem", "mapped_file")
        if version == 1
        else ("anon", "file", "shmem", "kernel")
    )
    try:
        lines = (directory / "memory.stat").read_text().splitlines()
    except OSError:
        return {}
    values = dict(line.split(" ", 1) for line in lines if " " in line)
    return {k: int(values[k]) for k in keys if k in values}


# --------------------------------------------------------------------------- the figures


async def alternate(
    rounds: int,
    hearth: Callable[[], Awaitable[float]],
    reference: Callable[[], Awaitable[float]],
    label: str | None = None,
) -> tuple[list[float], list[float], list[str]]:
    """``rounds`` rounds of one Hearth and one reference measurement; the side that goes
    first alternates from round to round."""
    h: list[float] = []
    r: list[float] = []
    orders: list[str] = []
    for i in range(rounds):
        if i % 2 == 0:
            h.append(await hearth())
            r.append(await reference())
            orders.append("hearth,reference")
        else:
            r.append(await reference())
            h.append(await hearth())
            orders.append("reference,hearth")
        if label:
            log(f"{label} {i + 1}/{rounds}: hearth {h[-1]:.3f} s, reference {r[-1]:.3f} s")
    return h, r, orders


async def cold_start(hearth: Hearth, ref: Reference, rounds: int) -> dict[str, Any]:
    log(f"cold start: {rounds} rounds per side (plus one warm-up each)")
    await hearth.cold()  # first container: imports, page cache
    await ref.cold()
    hearth.created_s.clear()
    hearth.ready_s.clear()
    ref.ready_s.clear()
    h, r, orders = await alternate(rounds, hearth.cold, ref.cold, "cold round")
    hs_s, rs_s = summary(h), summary(r)
    return {
        "rounds": rounds,
        "hearth_s": hs_s,
        "reference_s": rs_s,
        f"hearth_p50_s (goal <= {GOALS['cold_p50_s']})": hs_s["p50"],
        "ratio_hearth_over_reference": {
            "p50": ratio(hs_s["p50"], rs_s["p50"]),
            "p90": ratio(hs_s["p90"], rs_s["p90"]),
        },
        "hearth_minus_reference_ms_p50": 1000 * (hs_s["p50"] - rs_s["p50"]),
        "breakdown_s": {
            "hearth_create_returned": summary(hearth.created_s),
            "hearth_kernel_ready": summary(hearth.ready_s),
            "reference_kernel_ready": summary(ref.ready_s),
        },
        "per_round_s": {
            "hearth": h,
            "reference": r,
            "order": orders,
            "hearth_kernel_ready": hearth.ready_s,
            "reference_kernel_ready": ref.ready_s,
        },
    }


async def warm_call(hearth: Hearth, ref: Reference, calls: int) -> dict[str, Any]:
    log(f"warm call: {calls} calls per side, alternating")
    cid = await hearth.start()
    kernel = await ref.start()
    try:
        for _ in range(3):  # the first calls import what the kernel loads lazily
            await hearth.call(cid)
            await ref.call(kernel)

        async def h() -> float:
            started = time.perf_counter()
            await hearth.call(cid)
            return time.perf_counter() - started

        async def r() -> float:
            started = time.perf_counter()
            await ref.call(kernel)
            return time.perf_counter() - started

        hs, rs, _ = await alternate(calls, h, r)
    finally:
        await hearth.stop(cid)
        await ref.stop(kernel)
    hs_ms, rs_ms = summary(hs, 1000), summary(rs, 1000)
    log(f"warm call p50: hearth {hs_ms['p50']:.2f} ms, reference {rs_ms['p50']:.2f} ms")
    return {
        "calls": calls,
        "hearth_ms": hs_ms,
        "reference_ms": rs_ms,
        f"hearth_p50_ms (goal <= {GOALS['warm_p50_ms']:g})": hs_ms["p50"],
        "ratio_hearth_over_reference": {
            "p50": ratio(hs_ms["p50"], rs_ms["p50"]),
            "p90": ratio(hs_ms["p90"], rs_ms["p90"]),
        },
        "hearth_minus_reference_ms_p50": hs_ms["p50"] - rs_ms["p50"],
    }


def per_idle(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    values = [float(r[key]) for r in rows]
    mean = statistics.fmean(values) if values else float("nan")
    return {
        "mean_mb": mean / 1e6,
        "min_mb": min(values) / 1e6 if values else float("nan"),
        "max_mb": max(values) / 1e6 if values else float("nan"),
        "fit_in_4_gib": ratio(FOUR_GIB, mean),
    }


async def idle_memory(hearth: Hearth, ref: Reference, count: int) -> dict[str, Any]:
    log(f"memory: {count} idle containers, then {count} idle bare kernels")
    cids: list[str] = []
    try:
        for _ in range(count):
            cids.append(await hearth.start())
        for cid in cids:
            await hearth.call(cid)
        await asyncio.sleep(IDLE_SECONDS)
        h_rows = [hearth.memory(cid) for cid in cids]
    finally:
        for cid in cids:
            await hearth.stop(cid)
    kernels: list[Kernel] = []
    try:
        for _ in range(count):
            kernels.append(await ref.start())
        for kernel in kernels:
            await ref.call(kernel)
        await asyncio.sleep(IDLE_SECONDS)
        r_rows = [ref.memory(k) for k in kernels]
    finally:
        for kernel in kernels:
            await ref.stop(kernel)
    hearth_cgroup = per_idle(h_rows, "memory_bytes")
    reference_rss = per_idle(r_rows, "rss_bytes")
    log(
        f"memory per idle container: hearth {hearth_cgroup['mean_mb']:.1f} MB (cgroup), "
        f"reference {reference_rss['mean_mb']:.1f} MB (RSS)"
    )
    return {
        "containers": count,
        "idle_seconds": IDLE_SECONDS,
        "hearth_cgroup_memory": hearth_cgroup,
        "reference_rss": reference_rss,
        "ratio_hearth_cgroup_over_reference_rss": ratio(
            hearth_cgroup["mean_mb"], reference_rss["mean_mb"]
        ),
        "like_for_like": {
            kind: {
                "hearth": per_idle(h_rows, f"{kind}_bytes"),
                "reference": per_idle(r_rows, f"{kind}_bytes"),
                "ratio_hearth_over_reference": ratio(
                    statistics.fmean(float(r[f"{kind}_bytes"]) for r in h_rows),
                    statistics.fmean(float(r[f"{kind}_bytes"]) for r in r_rows),
                ),
            }
            for kind in ("rss", "pss", "uss")
        },
        "per_container": {"hearth": h_rows, "reference": r_rows},
    }


def background_load(seconds: float = 2.0) -> dict[str, Any]:
    """Cores other processes kept busy while this script sat idle (``/proc/stat``):
    timings taken beside a large figure are not comparable."""
    try:
        before, t0 = machine_busy_seconds(), time.perf_counter()
        time.sleep(seconds)
        busy = machine_busy_seconds() - before
        return {
            "cores_busy": busy / (time.perf_counter() - t0),
            "load_average_1m": os.getloadavg()[0],
        }
    except (OSError, ValueError, IndexError):
        return {"cores_busy": None}


async def bench(sandboxes: Sandboxes, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    hearth = Hearth(sandboxes)
    ref = Reference(tmp)
    try:
        result: dict[str, Any] = {
            "cold_start": await cold_start(hearth, ref, args.rounds),
            "warm_call": await warm_call(hearth, ref, args.warm_calls),
            "idle_memory": await idle_memory(hearth, ref, args.containers),
        }
    finally:
        await sandboxes.close()  # every container, even after an error
    result["unexpected_outputs"] = {"hearth": hearth.bad_outputs, "reference": ref.bad_outputs}
    return result


def cleanup_host(sandboxes: Sandboxes) -> None:
    """After ``close()``: the (now empty) container root and cgroup parents it made."""
    hierarchy = getattr(sandboxes, "_hierarchy", None)
    for d in [sandboxes.root, *(hierarchy.dirs if hierarchy is not None else ())]:
        with contextlib.suppress(OSError):
            d.rmdir()


def human(doc: dict[str, Any]) -> str:
    c, w, m = doc["cold_start"], doc["warm_call"], doc["idle_memory"]
    lines = [
        "cold start to first result (p50 / p90):",
        f"  hearth    {c['hearth_s']['p50']:.3f} / {c['hearth_s']['p90']:.3f} s"
        f"   (goal p50 <= {GOALS['cold_p50_s']} s)",
        f"  reference {c['reference_s']['p50']:.3f} / {c['reference_s']['p90']:.3f} s",
        f"  hearth / reference {c['ratio_hearth_over_reference']['p50']:.2f}"
        f" / {c['ratio_hearth_over_reference']['p90']:.2f}",
        "warm print(1) call (p50 / p90):",
        f"  hearth    {w['hearth_ms']['p50']:.2f} / {w['hearth_ms']['p90']:.2f} ms"
        f"   (goal p50 <= {GOALS['warm_p50_ms']:g} ms)",
        f"  reference {w['reference_ms']['p50']:.2f} / {w['reference_ms']['p90']:.2f} ms",
        f"  hearth / reference {w['ratio_hearth_over_reference']['p50']:.2f}"
        f" / {w['ratio_hearth_over_reference']['p90']:.2f}",
        f"memory per idle container ({m['containers']} each):",
        f"  hearth cgroup  {m['hearth_cgroup_memory']['mean_mb']:.1f} MB"
        f" -> {m['hearth_cgroup_memory']['fit_in_4_gib']:.0f} in 4 GiB",
        f"  reference RSS  {m['reference_rss']['mean_mb']:.1f} MB"
        f" -> {m['reference_rss']['fit_in_4_gib']:.0f} in 4 GiB",
        f"  RSS, like for like: hearth {m['like_for_like']['rss']['hearth']['mean_mb']:.1f} MB,"
        f" ratio {m['like_for_like']['rss']['ratio_hearth_over_reference']:.2f}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="cold-start rounds per side (10)")
    parser.add_argument("--warm-calls", type=int, default=50, help="warm calls per side (50)")
    parser.add_argument("--containers", type=int, default=5, help="idle containers for memory (5)")
    args = parser.parse_args(argv)
    if min(args.rounds, args.warm_calls, args.containers) < 1:
        parser.error("--rounds, --warm-calls and --containers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    for key in [k for k in os.environ if k.startswith("HEARTH_")]:
        del os.environ[key]  # Hearth's defaults, whatever the shell has set
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hearth-bench-ci-") as tmp:
        sandboxes = Sandboxes(Settings(data_dir=Path(tmp) / "data").sandbox)
        try:
            if sandboxes.reason is not None:
                print(
                    f"code_interpreter.py: Hearth cannot run containers here: {sandboxes.reason}.",
                    file=sys.stderr,
                )
                return 2
            load_before = background_load()
            result = asyncio.run(bench(sandboxes, Path(tmp), args))
            load_after = background_load()
        finally:
            cleanup_host(sandboxes)
    doc = {
        "benchmark": "code_interpreter",
        "environment": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "hearth": hearth_version,
            "jupyter_client": jupyter_client.__version__,
            "memory_limit": MEMORY_LIMIT,
            "code": CODE,
        },
        "goals": {
            "cold_start.hearth_s.p50": f"<= {GOALS['cold_p50_s']} s",
            "warm_call.hearth_ms.p50": f"<= {GOALS['warm_p50_ms']:g} ms",
        },
        **result,
        "background_load": {"before": load_before, "after": load_after},
        "total_seconds": time.perf_counter() - started,
    }
    print(json.dumps(finite(doc), indent=2))
    print(human(doc), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
