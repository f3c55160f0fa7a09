"""The background runner: trains queued jobs one at a time in a worker process.

A job is a durable row under a lease (``store/leases.py``). The runner claims it, starts
``python -m hearth.finetune.worker <job dir>`` (torch off the server's process, so the API
stays responsive and training memory is returned at exit) and turns the worker's JSON-line
events into job events, checkpoints and the final model. While it runs, the runner renews
the lease and watches the row's ``control`` for ``pause`` / ``cancel``. A killed server
stops renewing; the next start claims the job again once the lease expires and the worker
resumes after its last complete epoch checkpoint. Model files are renamed into place by
the worker before it reports them, and rows name them only after that, so a half-written
model is never served.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hearth.config import Settings
from hearth.store import leases
from hearth.store.fine_tuning import FineTuningStore
from hearth.store.models import FineTuningJob, now_unix

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""Starts of one job (crashes included) before it fails for good."""
_PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 10.0
"""How long a worker may take to exit after SIGTERM before it is killed."""


class JobRunner:
    """Claims and trains jobs; ``wake()`` after creating or resuming one."""

    def __init__(self, store: FineTuningStore, settings: Settings,
                 finish: Callable[[FineTuningJob, dict[str, Any]], None]) -> None:
        self._store = store
        self._settings = settings
        self._finish = finish
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop_ref: asyncio.AbstractEventLoop | None = None

    def job_dir(self, job_id: str) -> Path:
        """Where a job's data, checkpoints and models live."""
        return self._settings.data_dir / "fine_tuning" / job_id

    def start(self) -> None:
        if self._task is None:
            self._loop_ref = asyncio.get_running_loop()
            self._task = self._loop_ref.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Look for work now (callable from any thread)."""
        if self._loop_ref is not None:
            self._loop_ref.call_soon_threadsafe(self._wake.set)

    async def _loop(self) -> None:
        ttl = self._settings.lease_seconds
        while True:
            claimed = await asyncio.to_thread(
                leases.claim_next, self._store.sessions, FineTuningJob, ("queued", "running"),
                ttl)
            job_id = claimed[0] if claimed else None
            if job_id is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(ttl, 5.0))
                continue
            try:
                await self._run(job_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad job must not stop the runner
                log.exception("fine-tuning job %s failed", job_id)
                await asyncio.to_thread(self._fail, job_id, f"Internal error: {exc}")

    def _fail(self, job_id: str, message: str, code: str = "training_failed") -> None:
        leases.release(self._store.sessions, FineTuningJob, job_id, status="failed",
                       finished_at=now_unix(), control=None,
                       error={"code": code, "message": message, "param": None})
        self._store.add_event(job_id, f"Job failed: {message}", level="error")

    async def _run(self, job_id: str) -> None:
        job = await asyncio.to_thread(self._store.job, None, job_id)
        if job is None:
            return
        if job.attempts > MAX_ATTEMPTS:
            await asyncio.to_thread(
                self._fail, job_id, f"The job stopped {MAX_ATTEMPTS} times before finishing "
                "(server restarts or worker crashes).")
            return
        resumed = job.status == "running" or job.attempts > 1
        if not await asyncio.to_thread(
                self._store.update_job, job_id, where_status=("queued", "running"),
                status="running", events=[
                    "Fine-tuning job resumed from its last checkpoint" if resumed
                    else "Fine-tuning job started"]):  # cancelled or paused meanwhile
            await asyncio.to_thread(leases.release, self._store.sessions, FineTuningJob,
                                    job_id)
            return
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hearth.finetune.worker", str(self.job_dir(job_id)),
            stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        watcher = asyncio.create_task(self._watch(job_id, proc))
        try:
            outcome = await self._read(job, proc)
        except asyncio.CancelledError:  # server stopping: the next start resumes at once
            await _stop(proc)
            await asyncio.to_thread(leases.release, self._store.sessions, FineTuningJob,
                                    job_id)
            raise
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await _stop(proc)
        control = await asyncio.to_thread(self._control, job_id)
        await asyncio.to_thread(self._conclude, job, outcome, control, proc.returncode)

    async def _read(self, job: FineTuningJob, proc: asyncio.subprocess.Process,
                    ) -> dict[str, Any] | None:
        """Worker events -> rows; the ``done`` or ``error`` event, or None at EOF."""
        assert proc.stdout is not None
        started = time.monotonic()
        total = 0
        known = await asyncio.to_thread(self._store.checkpoint_steps, job.id)
        while line := await proc.stdout.readline():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                log.warning("fine-tuning worker: %s", line.decode(errors="replace").rstrip())
                continue
            kind = event.get("event")
            if kind == "started":
                total = int(event.get("total_steps", 0))
                if event.get("resumed_from_epoch"):
                    await asyncio.to_thread(self._recover, job, known,
                                            int(event["resumed_from_epoch"]))
            elif kind == "step":
                await asyncio.to_thread(self._step, job, event, total, started)
            elif kind == "checkpoint" and int(event["step"]) not in known:
                known.add(int(event["step"]))
                await asyncio.to_thread(self._checkpoint, job, event)
            elif kind in ("done", "error"):
                return dict(event)
        return None

    def _step(self, job: FineTuningJob, event: dict[str, Any], total: int,
              started: float) -> None:
        step = int(event["step"])
        data = {"step": step, "train_loss": event.get("train_loss"), "total_steps": total}
        for key in ("valid_loss", "train_mean_token_accuracy", "epoch"):
            if event.get(key) is not None:
                data[key] = event[key]
        text = f"Step {step}/{total}: training loss={event.get('train_loss', 0):.4f}"
        if event.get("valid_loss") is not None:
            text += f", validation loss={event['valid_loss']:.4f}"
        self._store.add_event(job.id, text, type_="metrics", data=data)
        if total and step:
            rate = (time.monotonic() - started) / step
            self._store.update_job(job.id, estimated_finish=int(time.time()
                                                                + rate * (total - step)))

    def _checkpoint(self, job: FineTuningJob, event: dict[str, Any]) -> None:
        step = int(event["step"])
        path = self.job_dir(job.id) / event["model"]
        rel = str(path.relative_to(self._settings.data_dir))
        metrics = {"step": step, **(event.get("metrics") or {})}
        self._store.add_checkpoint(job.id, f"{job.fine_tuned_model}:ckpt-step-{step}", step,
                                   metrics, rel, f"Checkpoint created at step {step}")

    def _recover(self, job: FineTuningJob, known: set[int], epochs: int) -> None:
        """Record checkpoints a kill left without a row (between the worker's rename and
        its event), from their ``progress.json``."""
        self._store.add_event(job.id, f"Resuming after epoch {epochs}")
        for epoch in range(1, epochs + 1):
            progress = self.job_dir(job.id) / f"ckpt-{epoch}" / "state" / "progress.json"
            try:
                data = json.loads(progress.read_text())
            except (OSError, ValueError):
                continue
            if int(data["step"]) not in known:
                known.add(int(data["step"]))
                self._checkpoint(job, {"step": data["step"], "model": f"ckpt-{epoch}/model.gguf",
                                       "metrics": data.get("metrics")})

    def _control(self, job_id: str) -> str | None:
        job = self._store.job(None, job_id)
        return job.control if job else None

    async def _watch(self, job_id: str, proc: asyncio.subprocess.Process) -> None:
        """Renew the lease; stop the worker on pause/cancel or a lost lease."""
        ttl = self._settings.lease_seconds
        last = time.monotonic()
        while proc.returncode is None:
            await asyncio.sleep(0.5)
            if await asyncio.to_thread(self._control, job_id):
                proc.send_signal(signal.SIGTERM)
                return
            if time.monotonic() - last >= ttl / 3:
                last = time.monotonic()
                if not await asyncio.to_thread(leases.renew, self._store.sessions,
                                               FineTuningJob, job_id, ttl):
                    log.warning("fine-tuning job %s: lease lost, stopping its worker", job_id)
                    proc.send_signal(signal.SIGTERM)
                    return

    def _conclude(self, job: FineTuningJob, outcome: dict[str, Any] | None,
                  control: str | None, returncode: int | None) -> None:
        sessions = self._store.sessions
        if control == "cancel":
            if leases.release(sessions, FineTuningJob, job.id, status="cancelled",
                              control=None, finished_at=now_unix()):
                self._store.add_event(job.id, "Fine-tuning job cancelled")
        elif control == "pause":
            if leases.release(sessions, FineTuningJob, job.id, status="paused", control=None):
                self._store.add_event(job.id, "Fine-tuning job paused")
        elif outcome is not None and outcome.get("event") == "done":
            self._finish(job, outcome)
        elif outcome is not None:
            self._fail(job.id, str(outcome.get("message") or "training failed"))
        else:
            self._fail(job.id, f"The training process exited with code {returncode}.")


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the server dies (even by SIGKILL), so a restarted
    server never finds an orphaned worker still writing the job's folder (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Wait for the worker to exit: SIGTERM, then SIGKILL after a grace period."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
