"""Training as durable background work: ``Training`` is the ``hearth.jobs.Work`` that the
one ``JobRunner`` executes, one job at a time, under a lease.

For a claimed job it starts ``python -m hearth.finetune.worker <job dir>`` (torch off the
server's process, so the API stays responsive and training memory is returned at exit) and
turns the worker's events (``hearth.finetune.spec``: the same models the worker writes)
into job events, checkpoints and the final model. While the worker runs, the row's
``control`` is watched for ``pause`` / ``cancel``, which stop the worker with SIGTERM; the
job then ends ``paused`` (it keeps its checkpoints) or ``cancelled``.

The ``JobRunner`` renews the lease. When it cancels ``run`` (the server stops, or the
lease was lost to another server), the worker is stopped and nothing more is written; the
next claim resumes the job after its last complete epoch checkpoint. A killed server takes
its worker with it (``PR_SET_PDEATHSIG``). Model files are renamed into place by the worker
before it reports them, and rows name them only after that, so a half-written model is
never served.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import ctypes
import io
import logging
import shutil
import signal
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from hearth.config import JobsSettings
from hearth.domain import Principal
from hearth.finetune.spec import (
    MODEL,
    STATE,
    CheckpointEvent,
    CheckpointMetrics,
    DoneEvent,
    ErrorEvent,
    StartedEvent,
    StepEvent,
    checkpoint_dir,
    parse_event,
    read_progress,
)
from hearth.services.files import Files
from hearth.store.fine_tuning import FineTuningStore
from hearth.store.models import FineTuningJob, now_unix

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 10.0
"""How long a worker may take to exit after SIGTERM before it is killed."""
CONTROL_POLL_S = 0.5
"""How often a running job's ``control`` is read (pause / cancel take effect this fast)."""
ACTIVE = ("queued", "running")


def job_dir(data_dir: Path, job_id: str) -> Path:
    """Where a job's data, checkpoints and models live."""
    return data_dir / "fine_tuning" / job_id


class Training:
    """The fine-tuning ``Work``: trains ``queued`` jobs and resumes ``running`` ones whose
    lease expired (their server stopped or was killed)."""

    name: str = "fine-tuning"
    table: type[FineTuningJob] = FineTuningJob
    statuses: tuple[str, ...] = ACTIVE

    def __init__(self, store: FineTuningStore, files: Files, jobs: JobsSettings) -> None:
        self._store = store
        self._files = files
        self._data_dir = jobs.data_dir

    def _dir(self, job_id: str) -> Path:
        return job_dir(self._data_dir, job_id)

    # --- Work --------------------------------------------------------------------------

    async def run(self, job_id: str) -> None:
        """Train the job to its end (succeeded, failed, paused or cancelled), stopping the
        worker if cancelled."""
        job = await asyncio.to_thread(self._store.job, None, job_id)
        if job is None:
            return
        known = await asyncio.to_thread(self._store.checkpoint_steps, job_id)
        resumed = job.status == "running" or job.attempts > 1 or bool(known)
        if not await asyncio.to_thread(
            self._store.update_job,
            job_id,
            where_status=ACTIVE,
            status="running",
            events=[
                "Fine-tuning job resumed from its last checkpoint"
                if resumed
                else "Fine-tuning job started"
            ],
        ):  # cancelled or paused meanwhile
            await asyncio.to_thread(self._store.release, job_id)
            return
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hearth.finetune.worker",
            str(self._dir(job_id)),
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        watcher = asyncio.create_task(self._watch(job_id, proc))
        try:
            outcome = await self._read(job, proc, known)
        finally:  # also when cancelled: no worker outlives its lease
            watcher.cancel()
            await _stop(proc)
            await asyncio.wait([watcher])
        control = await asyncio.to_thread(self._control, job_id)
        await self._conclude(job, outcome, control, proc.returncode)

    async def give_up(self, job_id: str, attempts: int) -> None:
        """Fail a job claimed ``attempts`` times without finishing."""
        await asyncio.to_thread(
            self._fail,
            job_id,
            f"The job stopped {attempts - 1} times before finishing "
            "(server restarts or worker crashes).",
        )

    async def fail(self, job_id: str, error: Exception) -> None:
        """Fail a job whose ``run`` raised ``error`` (a bug)."""
        await asyncio.to_thread(self._fail, job_id, f"Internal error: {error}")

    # --- the worker's events -----------------------------------------------------------

    async def _read(
        self, job: FineTuningJob, proc: asyncio.subprocess.Process, known: set[int]
    ) -> DoneEvent | ErrorEvent | None:
        """Worker events -> rows (``known``: steps of the checkpoints recorded already);
        the ``done`` or ``error`` event, or None at EOF."""
        assert proc.stdout is not None
        started = time.monotonic()
        total = 0
        while line := await proc.stdout.readline():
            try:
                event = parse_event(line)
            except ValidationError:
                log.warning("fine-tuning worker: %s", line.decode(errors="replace").rstrip())
                continue
            match event:
                case StartedEvent():
                    total = event.total_steps
                    if event.resumed_from_epoch:
                        await asyncio.to_thread(self._recover, job, known, event.resumed_from_epoch)
                case StepEvent():
                    await asyncio.to_thread(self._step, job, event, total, started)
                case CheckpointEvent():
                    if event.step not in known:
                        known.add(event.step)
                        await asyncio.to_thread(
                            self._checkpoint, job, event.step, event.model, event.metrics
                        )
                case DoneEvent() | ErrorEvent():
                    return event
        return None

    def _step(self, job: FineTuningJob, event: StepEvent, total: int, started: float) -> None:
        """A ``metrics`` event (``data``: ``step``, ``train_loss``, ``total_steps``,
        ``valid_loss``?, ``train_mean_token_accuracy``?, ``epoch``) and the estimate of
        the job's end."""
        data: dict[str, float] = {
            "step": event.step,
            "train_loss": event.train_loss,
            "total_steps": total,
        }
        for key in ("valid_loss", "train_mean_token_accuracy", "epoch"):
            if (value := getattr(event, key)) is not None:
                data[key] = value
        text = f"Step {event.step}/{total}: training loss={event.train_loss:.4f}"
        if event.valid_loss is not None:
            text += f", validation loss={event.valid_loss:.4f}"
        self._store.add_event(job.id, text, type_="metrics", data=data)
        if total and event.step:
            rate = (time.monotonic() - started) / event.step
            self._store.update_job(
                job.id, estimated_finish=int(time.time() + rate * (total - event.step))
            )

    def _checkpoint(
        self, job: FineTuningJob, step: int, model: str, metrics: CheckpointMetrics
    ) -> None:
        """Record the checkpoint whose model is ``model`` (relative to the job dir): the
        model ``<fine_tuned_model>:ckpt-step-<step>``."""
        rel = str((self._dir(job.id) / model).relative_to(self._data_dir))
        self._store.add_checkpoint(
            job.id,
            f"{job.fine_tuned_model}:ckpt-step-{step}",
            step,
            {"step": step, **metrics.model_dump(exclude_none=True)},
            rel,
            f"Checkpoint created at step {step}",
        )

    def _recover(self, job: FineTuningJob, known: set[int], epochs: int) -> None:
        """Record checkpoints a kill left without a row (between the worker's rename and
        its event), from their ``progress.json``."""
        self._store.add_event(job.id, f"Resuming after epoch {epochs}")
        for epoch in range(1, epochs + 1):
            try:
                progress = read_progress(self._dir(job.id), epoch)
            except (OSError, ValidationError):
                continue
            if progress.step not in known:
                known.add(progress.step)
                self._checkpoint(
                    job, progress.step, f"{checkpoint_dir(epoch)}/{MODEL}", progress.metrics
                )

    # --- control and outcome -----------------------------------------------------------

    def _control(self, job_id: str) -> str | None:
        job = self._store.job(None, job_id)
        return job.control if job else None

    async def _watch(self, job_id: str, proc: asyncio.subprocess.Process) -> None:
        """Stop the worker once the job has a pause or cancel request."""
        while proc.returncode is None:
            await asyncio.sleep(CONTROL_POLL_S)
            if await asyncio.to_thread(self._control, job_id):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                return

    async def _conclude(
        self,
        job: FineTuningJob,
        outcome: DoneEvent | ErrorEvent | None,
        control: str | None,
        returncode: int | None,
    ) -> None:
        if control == "cancel":
            await asyncio.to_thread(
                self._store.release,
                job.id,
                status="cancelled",
                control=None,
                finished_at=now_unix(),
                events=["Fine-tuning job cancelled"],
            )
        elif control == "pause":
            await asyncio.to_thread(
                self._store.release,
                job.id,
                status="paused",
                control=None,
                events=["Fine-tuning job paused"],
            )
        elif isinstance(outcome, DoneEvent):
            await self._finish(job, outcome)
        elif isinstance(outcome, ErrorEvent):
            await asyncio.to_thread(self._fail, job.id, outcome.message or "training failed")
        else:
            await asyncio.to_thread(
                self._fail, job.id, f"The training process exited with code {returncode}."
            )

    def _fail(self, job_id: str, message: str, code: str = "training_failed") -> None:
        self._store.release(
            job_id,
            status="failed",
            finished_at=now_unix(),
            control=None,
            error={"code": code, "message": message, "param": None},
            events=[f"Job failed: {message}"],
            level="error",
        )

    async def _finish(self, job: FineTuningJob, done: DoneEvent) -> None:
        """Record the final model (already renamed into place by the worker) and the
        results file ``step_metrics.csv`` (purpose ``fine-tune-results``)."""
        rel = str((self._dir(job.id) / done.model).relative_to(self._data_dir))
        results: list[str] = []
        try:
            data = await asyncio.to_thread(self._metrics_csv, job.id)
            results.append(
                (
                    await self._files.create_bytes(
                        Principal.for_project(job.organization_id, job.project_id),
                        "step_metrics.csv",
                        data,
                        "fine-tune-results",
                    )
                ).id
            )
        except Exception:  # a missing results file must not fail the job
            log.exception("fine-tuning job %s: could not write its results file", job.id)
        await asyncio.to_thread(self._succeed, job, rel, done.trained_tokens, results)

    def _succeed(
        self, job: FineTuningJob, model_path: str, trained_tokens: int, results: list[str]
    ) -> None:
        for state in self._dir(job.id).glob(f"ckpt-*/{STATE}"):
            shutil.rmtree(state, ignore_errors=True)  # resume state: not needed any more
        self._store.release(
            job.id,
            status="succeeded",
            model_path=model_path,
            finished_at=now_unix(),
            estimated_finish=None,
            trained_tokens=trained_tokens,
            result_files=results,
            control=None,
            events=[
                f"New fine-tuned model created: {job.fine_tuned_model}",
                "The job has successfully completed",
            ],
        )

    def _metrics_csv(self, job_id: str) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(
            out,
            ["step", "train_loss", "valid_loss", "train_mean_token_accuracy"],
            extrasaction="ignore",
        )
        writer.writeheader()
        writer.writerows(self._store.metrics(job_id))
        return out.getvalue().encode()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the server dies (even by SIGKILL), so a restarted
    server never finds an orphaned worker still writing the job's folder (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Wait for the worker to exit: SIGTERM at once, then SIGKILL after a grace period."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
