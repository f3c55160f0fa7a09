"""``Sandboxes``: every code interpreter container of one server, and what runs in them.

A container is an in-memory filesystem of fixed size (``/mnt/data`` and the kernel's
sockets) mounted on the host under ``/run/hearth-sandbox/<server>/<container id>``, plus a
Jupyter kernel started in it on demand:

    bwrap (new pid, net, ipc, uts, mount and cgroup namespaces; a read-only system; only
    /mnt/data, the kernel's socket dir and a private /tmp writable; seccomp filter)
      -> setpriv (its own host uid, no capabilities, no new privileges)
        -> python -m ipykernel_launcher

inside the container's memory + pids cgroup, with rlimits on open files, file size and
core dumps. Hearth talks to the kernel over ZeroMQ on Unix sockets in the container's own
filesystem (the container has no network at all, not even Hearth's loopback). Kernel
state (variables, imports) lives as long as the kernel; files live as long as the
container. See ``docs/code-interpreter.md``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import queue
import resource
import secrets
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hearth import errors
from hearth.config import SandboxSettings
from hearth.sandbox import seccomp
from hearth.sandbox.cgroups import Cgroup, CgroupsUnavailable, Hierarchy

log = logging.getLogger(__name__)

MEMORY_LIMITS = {"1g": 1 << 30, "4g": 4 << 30, "16g": 16 << 30, "64g": 64 << 30}
"""OpenAI's container ``memory_limit`` values -> bytes."""

ROOT = Path("/run/hearth-sandbox")
"""Host directory holding every container's filesystem (short: Unix socket paths are
limited to 107 bytes)."""

KERNEL_READY_SECONDS = 30.0
"""Longest wait for a new kernel to answer."""
INTERRUPT_GRACE_SECONDS = 3.0
"""After an interrupt, how long a call may take to stop before its kernel is killed."""
MAX_LOG_CHARS = 256_000
"""Logs kept per call (the end is cut, and says so)."""
MAX_IMAGES = 16
"""Images kept per call."""
TMP_BYTES = 64 << 20
"""Size of a container's private ``/tmp`` (counts against its memory)."""


@dataclass(frozen=True)
class Limits:
    """One container's limits: memory (bytes, page cache and files in memory included),
    ``/mnt/data`` size (bytes), processes + threads, open files per process."""

    memory_bytes: int
    disk_bytes: int
    processes: int
    open_files: int


@dataclass(frozen=True)
class Output:
    """One output of a call, as OpenAI's ``code_interpreter_call.outputs`` has them:
    ``logs`` (stdout, stderr, tracebacks and results, in order) or an ``image`` (PNG)."""

    type: Literal["logs", "image"]
    logs: str = ""
    png: bytes = b""


@dataclass(frozen=True)
class Execution:
    """What running code gave. ``completed``: it ran (an exception is in the logs);
    ``timed_out``: interrupted after the time limit (kernel state survives); ``killed``:
    the kernel died (out of memory or exited; state lost, files kept); ``failed``: no
    kernel could be started. ``error`` says why in words for the non-completed ones.
    ``files``: every file in ``/mnt/data`` after the call (as ``list_files``)."""

    status: Literal["completed", "timed_out", "killed", "failed"]
    outputs: list[Output]
    error: str | None = None
    files: list[SandboxFile] = field(default_factory=list)


@dataclass(frozen=True)
class SandboxFile:
    """A file in a container: ``path`` as the code sees it (``/mnt/data/...``), size in
    bytes, modification time (Unix seconds)."""

    path: str
    bytes: int
    modified: float


@dataclass
class _Box:
    id: str
    limits: Limits
    uid: int
    mount: Path
    cgroup: Cgroup
    uid_lease: int  # fd holding the host-wide lock on ``uid`` (see ``_lease_uid``)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    process: subprocess.Popen[bytes] | None = None
    client: Any = None
    warming: asyncio.Task[None] | None = None
    oom_kills: int = 0
    runs: int = 0
    last_run_at: float | None = None

    @property
    def data(self) -> Path:
        return self.mount / "data"

    @property
    def run_dir(self) -> Path:
        return self.mount / "run"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


DATA = "/mnt/data"
KERNEL_DIR = "/run/kernel"


class Sandboxes:
    """The server's containers. Built once (``Services``); reaps what an earlier run of
    the same data dir left (mounts, processes) at construction. ``reason`` is None when
    containers can run on this host, else why not: Hearth never runs code unsandboxed."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        key = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:12]
        self.root = ROOT / key
        self._boxes: dict[str, _Box] = {}
        self._python = settings.python or sys.executable
        self._binds: list[str] = []
        self._program = b""
        self._hierarchy: Hierarchy | None = None
        self.reason: str | None = self._probe(f"hearth-sandbox-{key}")
        if self.reason is None:
            self._reap()
        elif settings.enabled:
            log.warning("code interpreter is off: %s", self.reason)

    # ---- availability ---------------------------------------------------------------

    def _probe(self, cgroup_name: str) -> str | None:
        if not self.settings.enabled:
            return "code interpreter is turned off (HEARTH_CODE_INTERPRETER=false)"
        if not sys.platform.startswith("linux"):
            return "containers need Linux namespaces"
        if os.geteuid() != 0:
            return (
                "containers need root: each runs as its own user, in its own cgroup, "
                "with its own in-memory disk"
            )
        for tool, package in (("bwrap", "bubblewrap"), ("setpriv", "util-linux")):
            if shutil.which(tool) is None:
                return f"`{tool}` is not installed (Debian package {package})"
        try:
            self._program = seccomp.bpf_program()
        except (ImportError, OSError, RuntimeError) as e:
            return f"no seccomp filter (libseccomp via pyseccomp): {e}"
        try:
            self._hierarchy = Hierarchy.find(cgroup_name)
        except CgroupsUnavailable as e:
            return str(e)
        try:
            self._binds = self._python_binds()
        except (OSError, RuntimeError) as e:
            return f"the container Python {self._python} cannot run a kernel: {e}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, 0o711)
        except OSError as e:
            return f"cannot make {self.root}: {e}"
        check = subprocess.run(
            ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"],
            capture_output=True,
            timeout=10,
        )
        if check.returncode != 0:
            return f"bubblewrap cannot make namespaces here: {check.stderr.decode().strip()}"
        return None

    def _python_binds(self) -> list[str]:
        """Read-only binds the container Python needs: its prefix and base prefix."""
        if self._python == sys.executable:
            if importlib.util.find_spec("ipykernel") is None:
                raise RuntimeError("ipykernel is not installed")
            prefixes = {sys.prefix, sys.base_prefix}
        else:
            out = subprocess.run(
                [
                    self._python,
                    "-c",
                    "import sys, ipykernel; print(sys.prefix); print(sys.base_prefix)",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if out.returncode != 0:
                raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
            prefixes = set(out.stdout.split())
        prefixes = {p for p in prefixes if not p.startswith("/usr/")}
        # bwrap makes missing parents 0700 (unreadable for the container's user)
        made = {"/", "/tmp", "/mnt", "/run", "/etc"}  # the command makes these itself
        parents = {str(a) for p in prefixes for a in Path(p).parents if str(a) not in made}
        binds = []
        for d in sorted(parents, key=lambda d: d.count("/")):
            binds += ["--perms", "0755", "--dir", d]
        for p in sorted(prefixes):
            binds += ["--ro-bind", p, p]
        return binds

    def require(self) -> None:
        """Raise a 400 naming why containers cannot run here (nothing is stored)."""
        if self.reason is not None:
            raise errors.InvalidRequest(
                f"Code interpreter is not available on this server: {self.reason}.",
                code="code_interpreter_unavailable",
            )

    def limits(self, memory_limit: str) -> Limits:
        """Limits for a container of OpenAI's ``memory_limit`` (``1g`` ... ``64g``);
        ``/mnt/data`` is capped at half the memory (it lives in memory)."""
        memory = MEMORY_LIMITS[memory_limit]
        disk = min(int(self.settings.disk_mb * 1_000_000), memory // 2)
        disk -= disk % 4096  # tmpfs counts whole pages
        return Limits(memory, disk, self.settings.processes, self.settings.open_files)

    # ---- lifecycle ------------------------------------------------------------------

    def exists(self, container_id: str) -> bool:
        """Whether ``container_id`` has a live filesystem here."""
        return container_id in self._boxes

    async def create(self, container_id: str, limits: Limits) -> None:
        """Mount the container's filesystem and start its kernel in the background (the
        first ``run`` waits for it). Raises ``InvalidRequest`` when unavailable."""
        self.require()
        if container_id in self._boxes:
            return
        uid, lease = self._lease_uid()
        assert self._hierarchy is not None
        box = _Box(
            container_id,
            limits,
            uid,
            self.root / container_id,
            self._hierarchy.group(container_id),
            lease,
        )
        try:
            await asyncio.to_thread(self._mount, box)
        except BaseException:
            os.close(lease)
            raise
        self._boxes[container_id] = box
        box.warming = asyncio.create_task(self._warm(box))

    async def _warm(self, box: _Box) -> None:
        async with box.lock:
            with contextlib.suppress(Exception):
                await self._ensure_kernel(box)

    def _lease_uid(self) -> tuple[int, int]:
        """A host uid no other container on this host has, from ``uid_base`` up, and the fd
        that holds it: an exclusive ``flock`` on ``/run/hearth-sandbox/uids/<uid>``, so
        every Hearth server on the host (each with its own data dir) picks distinct uids,
        and a server that dies (even by SIGKILL) gives its uids back with its fds."""
        leases = ROOT / "uids"
        leases.mkdir(mode=0o700, parents=True, exist_ok=True)
        for uid in range(self.settings.uid_base, self.settings.uid_base + 65536):
            fd = os.open(leases / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return uid, fd
        raise errors.InvalidRequest("no free user id for another container on this host")

    def _mount(self, box: _Box) -> None:
        box.mount.mkdir(mode=0o700, exist_ok=True)
        inodes = max(1024, box.limits.disk_bytes // 16384)
        options = (
            f"size={box.limits.disk_bytes},nr_inodes={inodes},mode=0700,"
            f"uid={box.uid},gid={box.uid},nosuid,nodev"
        )
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "hearth-container", str(box.mount)],
            check=True,
            capture_output=True,
        )
        # /mnt/data is 0755 so bwrap, already without capabilities, can chdir into it;
        # the mount above it stays 0700 (no other host user reaches it)
        for d, mode in ((box.data, 0o755), (box.run_dir, 0o700)):
            d.mkdir()
            os.chmod(d, mode)
            os.chown(d, box.uid, box.uid)

    async def destroy(self, container_id: str) -> None:
        """Kill the container's processes and free its files; idempotent."""
        box = self._boxes.pop(container_id, None)
        if box is None:
            return
        if box.warming is not None:
            box.warming.cancel()
        self._stop_kernel(box)
        try:
            await asyncio.to_thread(self._unmount, box)
        finally:
            os.close(box.uid_lease)  # its processes are gone: the uid is free again

    def _unmount(self, box: _Box) -> None:
        box.cgroup.kill()
        subprocess.run(["umount", "-l", str(box.mount)], capture_output=True)
        with contextlib.suppress(OSError):
            box.mount.rmdir()

    async def close(self) -> None:
        """Destroy every container (server shutdown)."""
        for cid in list(self._boxes):
            await self.destroy(cid)
        with contextlib.suppress(OSError):
            self.root.rmdir()

    def _reap(self) -> None:
        """Free what a crashed earlier run of this data dir left: its containers' processes
        (their cgroups), mounts and directories."""
        assert self._hierarchy is not None
        for group in self._hierarchy.children():
            group.kill()
        for path in self.root.iterdir():
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
            with contextlib.suppress(OSError):
                path.rmdir()
            log.info("reaped container %s left by an earlier run", path.name)

    # ---- the kernel -----------------------------------------------------------------

    def _command(self, box: _Box) -> list[str]:
        links: list[str] = []
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                links += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                links += ["--ro-bind", top, top]
        etc = ["--perms", "0755", "--dir", "/etc"]  # bwrap would make it 0700
        for f in (
            "/etc/ld.so.cache",
            "/etc/ld.so.conf",
            "/etc/localtime",
            "/etc/alternatives",
            "/etc/fonts",
        ):
            etc += ["--ro-bind-try", f, f]
        env = {
            "PATH": f"{Path(self._python).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "USER": "sandbox",
            "LANG": "C.UTF-8",
            "IPYTHONDIR": "/tmp/.ipython",
            "MPLCONFIGDIR": "/tmp/.matplotlib",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            # one thread per numeric library: threads count against the process limit
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        setenv = [a for k, v in env.items() for a in ("--setenv", k, v)]
        return [
            "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "container",
            "--ro-bind",
            "/usr",
            "/usr",
            *links,
            *etc,
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(TMP_BYTES),
            "--perms",
            "1777",
            "--tmpfs",
            "/tmp",
            *("--perms", "0755", "--dir", "/mnt", "--perms", "0755", "--dir", "/run"),
            # after /tmp's tmpfs: a Python installed under /tmp stays visible
            *self._binds,
            "--bind",
            str(box.data),
            DATA,
            "--bind",
            str(box.run_dir),
            KERNEL_DIR,
            "--remount-ro",
            "/",
            "--chdir",
            DATA,
            "--clearenv",
            *setenv,
            "--cap-drop",
            "ALL",
            # only what setpriv needs to drop to the container's user; it then clears all
            *("--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"),
            "--seccomp",
            "{seccomp_fd}",
            "--",
            "setpriv",
            f"--reuid={box.uid}",
            f"--regid={box.uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--ambient-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
            self._python,
            "-m",
            "ipykernel_launcher",
            "-f",
            f"{KERNEL_DIR}/kernel.json",
            "--HistoryManager.enabled=False",
            "--InteractiveShell.colors=NoColor",
        ]

    def _connection(self, box: _Box) -> dict[str, Any]:
        """Connection info (ZeroMQ over Unix sockets in the container's run dir): the
        kernel's copy names them as it sees them, Hearth's as the host sees them."""
        info: dict[str, Any] = {
            "transport": "ipc",
            "signature_scheme": "hmac-sha256",
            "key": secrets.token_hex(32),
            "kernel_name": "python3",
        }
        for n, name in enumerate(("shell", "iopub", "stdin", "control", "hb"), start=1):
            info[f"{name}_port"] = n
        kernel = {**info, "ip": f"{KERNEL_DIR}/k"}
        path = box.run_dir / "kernel.json"
        path.write_text(json.dumps(kernel))
        os.chown(path, box.uid, box.uid)
        return {**info, "ip": str(box.run_dir / "k")}

    def _spawn(self, box: _Box) -> subprocess.Popen[bytes]:
        box.cgroup.create(box.limits.memory_bytes, box.limits.processes)
        box.oom_kills = box.cgroup.oom_kills()
        fd = seccomp.program_fd(self._program)
        procs = box.cgroup.procs_files()
        open_files, file_bytes = box.limits.open_files, box.limits.disk_bytes

        def enter_limits() -> None:  # in the child, before bwrap runs
            for path in procs:
                f = os.open(path, os.O_WRONLY)
                os.write(f, b"0")
                os.close(f)
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        cmd = [a.replace("{seccomp_fd}", str(fd)) for a in self._command(box)]
        stderr = open(box.run_dir / "kernel.log", "wb")  # noqa: SIM115 - the child owns it
        try:
            return subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                pass_fds=(fd,),
                preexec_fn=enter_limits,  # noqa: PLW1509 - only async-signal-safe calls
                close_fds=True,
            )
        finally:
            os.close(fd)
            stderr.close()

    async def _ensure_kernel(self, box: _Box) -> None:
        if box.alive() and box.client is not None:
            return
        self._stop_kernel(box)
        from jupyter_client.asynchronous import AsyncKernelClient

        info = self._connection(box)
        # Popen on the event loop's thread: bwrap's parent-death signal follows the
        # thread that forked it, and this one lives as long as the server
        box.process = self._spawn(box)
        client = AsyncKernelClient()
        client.load_connection_info(info)  # type: ignore[arg-type]
        client.start_channels()
        box.client = client
        deadline = time.monotonic() + KERNEL_READY_SECONDS
        asked: set[str] = set()
        while True:
            # ready = the status of one of our kernel_info requests on iopub (so iopub's
            # subscription is live and no output of the first call is lost); a request
            # sent before the kernel bound its sockets is lost, so ask again often
            asked.add(client.kernel_info())
            step_end = time.monotonic() + 0.1
            while time.monotonic() < step_end:
                if not box.alive():
                    raise RuntimeError(f"the kernel exited: {self._kernel_log(box)}")
                try:
                    msg = await client.get_iopub_msg(timeout=0.02)
                except queue.Empty:
                    continue
                if msg["parent_header"].get("msg_id") in asked:
                    await self._drain_shell(client)
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the kernel did not answer in time")

    @staticmethod
    async def _drain_shell(client: Any) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                await client.get_shell_msg(timeout=0)

    def _kernel_log(self, box: _Box) -> str:
        try:
            text = (box.run_dir / "kernel.log").read_text(errors="replace").strip()
        except OSError:
            return "no log"
        return text.splitlines()[-1] if text else "no log"

    def _stop_kernel(self, box: _Box) -> None:
        if box.client is not None:
            with contextlib.suppress(Exception):
                box.client.stop_channels()
            box.client = None
        if box.process is not None:
            box.cgroup.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                box.process.wait(timeout=5)
            box.process = None

    # ---- running code ---------------------------------------------------------------

    async def run(self, container_id: str, code: str, timeout: float | None = None) -> Execution:
        """Run ``code`` in the container's kernel (state carries over between calls);
        at most ``timeout`` seconds (default: the setting), then it is interrupted.
        Images come from figures shown and from PNG files the code wrote to
        ``/mnt/data``. Calls on one container run one at a time. Raises ``NotFound``
        for an unknown container."""
        box = self._box(container_id)
        limit = timeout if timeout is not None else self.settings.call_seconds
        async with box.lock:
            try:
                await self._ensure_kernel(box)
            except Exception as e:  # noqa: BLE001 - reported to the caller as the call's error
                log.warning("container %s: no kernel: %s", container_id, e)
                self._stop_kernel(box)
                files = await asyncio.to_thread(self._scan, box)
                error = f"The container could not start Python: {e}"
                return Execution("failed", [], error, files)
            before = {f.path: f.modified for f in await asyncio.to_thread(self._scan, box)}
            execution = await self._execute(box, code, limit)
            box.runs += 1
            box.last_run_at = time.time()
            after = await asyncio.to_thread(self._scan, box)
        saved = [
            f for f in after if f.path.lower().endswith(".png") and before.get(f.path) != f.modified
        ]
        outputs = list(execution.outputs)
        for f in saved[: max(0, MAX_IMAGES - sum(o.type == "image" for o in outputs))]:
            with contextlib.suppress(errors.NotFound):
                outputs.append(Output("image", png=self._read(box, f.path)))
        return Execution(execution.status, outputs, execution.error, after)

    async def _execute(self, box: _Box, code: str, limit: float) -> Execution:
        client = box.client
        msg_id = client.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        outputs = _Outputs()
        deadline = time.monotonic() + limit
        interrupted = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if interrupted:
                    self._stop_kernel(box)
                    outputs.log(
                        f"\n[killed: running {INTERRUPT_GRACE_SECONDS:g} s after an interrupt]"
                    )
                    return Execution("timed_out", outputs.done(), self._timeout_error(limit))
                interrupted = True
                client.control_channel.send(client.session.msg("interrupt_request", {}))
                deadline = time.monotonic() + INTERRUPT_GRACE_SECONDS
                continue
            try:
                msg = await client.get_iopub_msg(timeout=min(left, 0.25))
            except queue.Empty:
                if not box.alive():
                    return self._died(box, outputs)
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                break
            outputs.add(kind, content)
        await self._drain_shell(client)
        if interrupted:
            return Execution("timed_out", outputs.done(), self._timeout_error(limit))
        return Execution("completed", outputs.done())

    @staticmethod
    def _timeout_error(limit: float) -> str:
        return f"The code ran longer than {limit:g} s and was interrupted."

    def _died(self, box: _Box, outputs: _Outputs) -> Execution:
        code = box.process.returncode if box.process is not None else None
        oom = box.cgroup.oom_kills() > box.oom_kills
        self._stop_kernel(box)
        if oom:
            gib = box.limits.memory_bytes / (1 << 30)
            error = (
                f"The container ran out of memory (its limit is {gib:g} GiB) and its Python "
                "process was killed; variables are lost, files in /mnt/data are kept."
            )
        else:
            error = f"The container's Python process exited (status {code}); variables are lost."
        return Execution("killed", outputs.done(), error)

    # ---- files ----------------------------------------------------------------------

    def _box(self, container_id: str) -> _Box:
        box = self._boxes.get(container_id)
        if box is None:
            raise errors.NotFound(f"No container found with id '{container_id}'.")
        return box

    async def write_file(self, container_id: str, name: str, data: bytes) -> SandboxFile:
        """Write ``/mnt/data/<name>`` (a bare file name), replacing it. Raises
        ``InvalidRequest`` for a bad name or when the container's disk is full."""
        box = self._box(container_id)
        if not name or "/" in name or name in (".", "..") or "\0" in name:
            raise errors.InvalidRequest(f"Invalid file name {name!r}.", param="file")
        return await asyncio.to_thread(self._write, box, name, data)

    def _write(self, box: _Box, name: str, data: bytes) -> SandboxFile:
        with _beneath(box.data) as dir_fd:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK
            try:
                fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
            except OSError as e:
                raise errors.InvalidRequest(f"Cannot write {name!r}: {e.strerror}.") from e
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise errors.InvalidRequest(f"{DATA}/{name} is not a regular file.")
                os.fchown(fd, box.uid, box.uid)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                st = os.fstat(fd)
            except OSError as e:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dir_fd)
                raise errors.InvalidRequest(
                    f"The container's disk is full ({box.limits.disk_bytes} bytes): {e.strerror}."
                ) from e
            finally:
                os.close(fd)
        return SandboxFile(f"{DATA}/{name}", st.st_size, st.st_mtime)

    async def list_files(self, container_id: str) -> list[SandboxFile]:
        """Every regular file under ``/mnt/data`` (links and devices are skipped)."""
        box = self._box(container_id)
        return await asyncio.to_thread(self._scan, box)

    def _scan(self, box: _Box) -> list[SandboxFile]:
        found: list[SandboxFile] = []

        def walk(path: Path, shown: str, depth: int) -> None:
            if depth > 16 or len(found) >= 10_000:
                return
            with contextlib.suppress(OSError), os.scandir(path) as entries:
                for e in entries:
                    if e.is_symlink():
                        continue
                    if e.is_dir(follow_symlinks=False):
                        walk(Path(e.path), f"{shown}/{e.name}", depth + 1)
                    elif e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        found.append(SandboxFile(f"{shown}/{e.name}", st.st_size, st.st_mtime))

        walk(box.data, DATA, 0)
        return sorted(found, key=lambda f: f.path)

    async def read_file(self, container_id: str, path: str) -> bytes:
        """The bytes of ``path`` (``/mnt/data/...``). Raises ``NotFound`` when there is
        no such regular file (a link is never followed: it could point at the host)."""
        box = self._box(container_id)
        return await asyncio.to_thread(self._read, box, path)

    def _read(self, box: _Box, path: str) -> bytes:
        parts = _parts(path)
        with _beneath(box.data, parts[:-1]) as dir_fd:
            try:
                fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError as e:
                raise errors.NotFound(f"No file {path} in the container.") from e
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise errors.NotFound(f"No file {path} in the container.")
                with os.fdopen(os.dup(fd), "rb") as f:
                    return f.read()
            finally:
                os.close(fd)

    async def delete_file(self, container_id: str, path: str) -> None:
        """Remove ``path`` (``/mnt/data/...``); a missing file is not an error."""
        box = self._box(container_id)
        parts = _parts(path)

        def unlink() -> None:
            with _beneath(box.data, parts[:-1]) as dir_fd, contextlib.suppress(FileNotFoundError):
                os.unlink(parts[-1], dir_fd=dir_fd)

        await asyncio.to_thread(unlink)

    # ---- operations -----------------------------------------------------------------

    def describe(self) -> list[dict[str, object]]:
        """Running containers (for ``GET /hearth/engine``): id, host uid, whether its
        kernel runs, memory in use (bytes), processes, ``/mnt/data`` bytes used, calls
        run, last call (Unix seconds)."""
        rows: list[dict[str, object]] = []
        for box in self._boxes.values():
            try:
                st = os.statvfs(box.mount)
                used = (st.f_blocks - st.f_bfree) * st.f_frsize
            except OSError:
                used = 0
            rows.append(
                {
                    "id": box.id,
                    "uid": box.uid,
                    "kernel": "running" if box.alive() else "stopped",
                    "memory_bytes": box.cgroup.memory_bytes(),
                    "memory_limit_bytes": box.limits.memory_bytes,
                    "processes": len(box.cgroup.pids()),
                    "disk_bytes": used,
                    "disk_limit_bytes": box.limits.disk_bytes,
                    "runs": box.runs,
                    "last_run_at": box.last_run_at,
                }
            )
        return rows


class _Outputs:
    """Outputs of one call in order; consecutive text joins one ``logs`` output."""

    def __init__(self) -> None:
        self.items: list[Output] = []
        self.text: list[str] = []
        self.chars = 0
        self.cut = False

    def log(self, text: str) -> None:
        if self.cut or not text:
            return
        room = MAX_LOG_CHARS - self.chars
        if len(text) > room:
            text, self.cut = text[:room] + "\n[output cut: too long]", True
        self.text.append(text)
        self.chars += len(text)

    def image(self, b64: str) -> None:
        if sum(o.type == "image" for o in self.items) >= MAX_IMAGES:
            return
        self._flush()
        self.items.append(Output("image", png=base64.b64decode(b64)))

    def add(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "stream":
            self.log(content.get("text", ""))
        elif kind == "error":
            self.log("\n".join(content.get("traceback") or [content.get("evalue", "")]) + "\n")
        elif kind in ("execute_result", "display_data"):
            data = content.get("data", {})
            if "image/png" in data:
                self.image(data["image/png"])
            elif "text/plain" in data:
                self.log(data["text/plain"] + "\n")

    def _flush(self) -> None:
        if self.text:
            self.items.append(Output("logs", logs="".join(self.text)))
            self.text = []

    def done(self) -> list[Output]:
        self._flush()
        return self.items


def _parts(path: str) -> list[str]:
    if not path.startswith(DATA + "/"):
        raise errors.NotFound(f"No file {path} in the container.")
    parts = path[len(DATA) + 1 :].split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise errors.NotFound(f"No file {path} in the container.")
    return parts


@contextlib.contextmanager
def _beneath(root: Path, parts: list[str] | None = None) -> Iterator[int]:
    """A directory fd for ``root/parts...``, opened one component at a time without
    following links, so code in the container cannot point Hearth at a host path."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in parts or []:
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as e:
                raise errors.NotFound(f"No directory {part} in the container.") from e
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)
