"""``client.fine_tuning.jobs`` (API reference: Fine-tuning), and the catalog through which
the engine serves the resulting models (``engine.registry.ModelCatalog``).

A job is validated completely at creation (the training file is parsed, checked line by
line and tokenized), so a bad file is a 400 before anything trains. Training is durable
background work (``runner.Training`` on ``hearth.jobs.JobRunner``) in a worker process;
the model ``ft:<base>:<org>:<suffix>:<id>`` and one model per epoch checkpoint
(``...:ckpt-step-<N>``) are then served by the same engine as the base, owned by the job's
organization.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import secrets
from pathlib import Path
from typing import Any

from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from hearth.config import JobsSettings
from hearth.domain import CursorPage, PageParams, Principal
from hearth.engine.registry import ModelRegistry
from hearth.engine.remote import RemoteModel
from hearth.errors import InvalidRequest, NotFound
from hearth.finetune.spec import TRAIN, VALID, Hyperparameters, JobSpec, LoraSettings, write_spec
from hearth.jobs import JobRunner
from hearth.services.files import Files
from hearth.services.fine_tuning.catalog import Catalog
from hearth.services.fine_tuning.objects import (
    Status,
    checkpoint_object,
    event_object,
    job_object,
)
from hearth.services.fine_tuning.params import JobParams, check_suffix, resolve_method
from hearth.services.fine_tuning.runner import Training, job_dir
from hearth.services.fine_tuning.training_data import Tokenizer, parse
from hearth.store.fine_tuning import JOB_PREFIX, FineTuningStore
from hearth.store.ids import new_id
from hearth.store.models import FineTuningJob as JobRow
from hearth.store.models import now_unix

LORA = LoraSettings(r=16, alpha=32, targets=("q_proj", "k_proj", "v_proj", "o_proj"))
"""LoRA settings of every job (docs/fine-tuning.md: measured on SmolLM2-135M)."""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "org"


def _not_found(job_id: str) -> NotFound:
    return NotFound(
        f"No fine-tuning job found with id '{job_id}'.",
        param="fine_tuning_job_id",
        code="fine_tune_not_found",
    )


class FineTuning:
    """Jobs, events, checkpoints, and the models they produce."""

    def __init__(
        self, store: FineTuningStore, files: Files, models: ModelRegistry, jobs: JobsSettings
    ) -> None:
        self.store = store
        self._files = files
        self._models = models
        self._jobs = jobs
        self.runner = JobRunner(
            store.sessions,
            Training(store, files, jobs),
            lease_seconds=jobs.lease_seconds,
            concurrency=1,
        )
        self.catalog = Catalog(store, jobs.data_dir)
        models.set_catalog(self.catalog)

    async def start(self) -> None:
        """Start the runner (it resumes jobs whose lease expired)."""
        await self.runner.start()

    async def stop(self) -> None:
        """Stop the runner and its worker; running jobs resume on the next start."""
        await self.runner.stop()

    # --- jobs -------------------------------------------------------------------------

    async def create(self, caller: Principal, params: JobParams) -> FineTuningJob:
        """``client.fine_tuning.jobs.create``: validate everything, write the tokenized
        data, queue the job; the job (``queued``).

        Raises ``ModelNotFound`` (404, param ``model``) for an unknown model,
        ``NotFound`` (404, ``training_file`` / ``validation_file``) for a missing file,
        ``InvalidRequest`` (400) for a model that cannot be fine-tuned, a bad suffix or
        hyperparameter, a file with another purpose, and a bad training or validation
        file (line-numbered, ``code`` ``invalid_training_file``)."""
        if not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft")):
            raise InvalidRequest(
                "Fine-tuning needs Hearth's 'finetune' extra: pip install 'hearth[finetune]'.",
                code="finetune_unavailable",
            )
        if params.model.startswith("ft:"):  # continuing a fine-tune is not supported yet
            await self._models.aget(params.model, caller.organization_id)  # 404 if absent
            raise InvalidRequest(
                f"Model {params.model} is not available for fine-tuning.",
                param="model",
                code="model_not_available",
            )
        served = await self._models.aget(params.model, caller.organization_id)
        if served.id != params.model:
            raise InvalidRequest(
                f"Model {params.model} is not available for fine-tuning.",
                param="model",
                code="model_not_available",
            )
        if isinstance(served, RemoteModel):  # trained here on the same weights, served there
            served = await self._models.aget(served.tuning_weights())
        source = served.source
        check_suffix(params.suffix)
        _, train_bytes = await self._files.read(
            caller, params.training_file, purposes=("fine-tune",), param="training_file"
        )
        valid_bytes = None
        if params.validation_file:
            _, valid_bytes = await self._files.read(
                caller, params.validation_file, purposes=("fine-tune",), param="validation_file"
            )
        method_type = params.method.type if params.method else "supervised"
        tokenizer = Tokenizer(served, served.info.context_length)
        vision = False  # no bundled base model reads images
        train = await asyncio.to_thread(
            parse,
            train_bytes,
            method_type,
            tokenizer,
            param="training_file",
            vision=vision,
            min_examples=self._jobs.finetune_min_examples,
        )
        valid = (
            None
            if valid_bytes is None
            else await asyncio.to_thread(
                parse,
                valid_bytes,
                method_type,
                tokenizer,
                param="validation_file",
                vision=vision,
                min_examples=1,
            )
        )
        method = resolve_method(params, train.examples)
        job_id = new_id(JOB_PREFIX)
        org_name = await asyncio.to_thread(self.store.organization_name, caller.organization_id)
        org = _slug(org_name or caller.organization_id)
        model_id = f"ft:{params.model}:{org}:{params.suffix or ''}:{job_id[len(JOB_PREFIX) :][:8]}"
        seed = params.seed if params.seed is not None else secrets.randbelow(2**31)
        await asyncio.to_thread(
            self._write_job_dir,
            job_id,
            Path(source),
            method,
            seed,
            train.lines,
            valid.lines if valid else None,
        )
        job = await asyncio.to_thread(
            self.store.insert_job,
            id=job_id,
            project_id=caller.project_id,
            organization_id=caller.organization_id,
            model=params.model,
            fine_tuned_model=model_id,
            status="queued",
            training_file=params.training_file,
            validation_file=params.validation_file,
            suffix=params.suffix,
            seed=seed,
            method=method,
            metadata_=params.metadata,
            events=[
                f"Validating training file: {params.training_file}"
                + (f" and validation file: {params.validation_file}" if valid else ""),
                f"Files validated ({train.examples} examples, {train.tokens} tokens per "
                "epoch), moving job to queued state",
            ],
        )
        self.runner.wake()
        return job_object(job)

    def _write_job_dir(
        self,
        job_id: str,
        base: Path,
        method: dict[str, Any],
        seed: int,
        train: list[dict[str, Any]],
        valid: list[dict[str, Any]] | None,
    ) -> None:
        folder = job_dir(self._jobs.data_dir, job_id)
        folder.mkdir(parents=True, exist_ok=True)
        _write_lines(folder / TRAIN, train)
        if valid is not None:
            _write_lines(folder / VALID, valid)
        write_spec(
            folder,
            JobSpec(
                base_gguf=base,
                method=method["type"],
                hyperparameters=Hyperparameters(**method[method["type"]]["hyperparameters"]),
                seed=seed,
                threads=self._jobs.finetune_threads,
                lora=LORA,
                train=TRAIN,
                valid=VALID if valid is not None else None,
                # the base dequantized to fp32 once, shared by later jobs (loads in ~1 s)
                base_cache=self._jobs.model_cache_dir / "finetune-base" / base.stem,
            ),
        )

    def _job(self, caller: Principal, job_id: str) -> JobRow:
        job = self.store.job(caller.project_id, job_id)
        if job is None:
            raise _not_found(job_id)
        return job

    async def retrieve(self, caller: Principal, job_id: str) -> FineTuningJob:
        """``client.fine_tuning.jobs.retrieve``; ``NotFound`` (404) if it is not the
        caller's project's."""
        return job_object(await asyncio.to_thread(self._job, caller, job_id))

    async def list(
        self, caller: Principal, page: PageParams, *, metadata: dict[str, str] | None
    ) -> CursorPage[FineTuningJob]:
        """``client.fine_tuning.jobs.list``: the project's jobs (the route pages newest
        first), only those whose metadata has every pair of ``metadata`` when given."""
        rows = await asyncio.to_thread(self.store.jobs, caller.project_id, page, metadata)
        return rows.to(job_object)

    def _request(self, caller: Principal, job_id: str, action: str) -> FineTuningJob:
        """Apply ``cancel`` or ``pause``: directly to a job that is not training, through
        ``control`` to a running one (its runner stops the worker within a second).
        Retried because the runner may claim the job between the read and the write."""
        direct = ("queued", "paused", "validating_files") if action == "cancel" else ("queued",)
        final: Status = "cancelled" if action == "cancel" else "paused"
        for _ in range(5):
            job = self._job(caller, job_id)
            if job.status in direct:
                extra = {"finished_at": now_unix()} if action == "cancel" else {}
                if self.store.update_job(
                    job_id,
                    where_status=(job.status,),
                    status=final,
                    events=[f"Fine-tuning job {final}"],
                    **extra,
                ):
                    break
            elif job.status == "running":
                if self.store.update_job(job_id, where_status=("running",), control=action):
                    break
            else:
                allowed = "has not ended" if action == "cancel" else "is queued or running"
                raise InvalidRequest(
                    f"Job {job_id} is {job.status}; only a job that {allowed} can be {final}.",
                    param="fine_tuning_job_id",
                )
        fresh = self._job(caller, job_id)
        # a running job is reported as stopped at once; its runner confirms it
        return job_object(fresh, final if fresh.control == action else None)

    async def cancel(self, caller: Principal, job_id: str) -> FineTuningJob:
        """``client.fine_tuning.jobs.cancel``: a job that has not ended; 400 otherwise."""
        return await asyncio.to_thread(self._request, caller, job_id, "cancel")

    async def pause(self, caller: Principal, job_id: str) -> FineTuningJob:
        """``client.fine_tuning.jobs.pause``: a queued or running job (it keeps its
        checkpoints); 400 otherwise."""
        return await asyncio.to_thread(self._request, caller, job_id, "pause")

    async def resume(self, caller: Principal, job_id: str) -> FineTuningJob:
        """``client.fine_tuning.jobs.resume``: queue a paused job again; it continues after
        its last checkpoint. 400 for a job that is not paused."""

        def resume() -> FineTuningJob:
            job = self._job(caller, job_id)
            # attempts restart: a pause is not a crash
            if job.status != "paused" or not self.store.update_job(
                job_id,
                where_status=("paused",),
                status="queued",
                control=None,
                attempts=0,
                events=["Fine-tuning job resumed"],
            ):
                raise InvalidRequest(
                    f"Job {job_id} is {job.status}; only a paused job can be resumed.",
                    param="fine_tuning_job_id",
                )
            return job_object(self._job(caller, job_id))

        resumed = await asyncio.to_thread(resume)
        self.runner.wake()
        return resumed

    async def list_events(
        self, caller: Principal, job_id: str, page: PageParams
    ) -> CursorPage[FineTuningJobEvent]:
        """``client.fine_tuning.jobs.list_events``: status changes and per-step metrics
        (the route pages newest first); ``NotFound`` (404) for another project's job."""

        def events() -> CursorPage[FineTuningJobEvent]:
            self._job(caller, job_id)
            return self.store.events(job_id, page).to(event_object)

        return await asyncio.to_thread(events)

    async def list_checkpoints(
        self, caller: Principal, job_id: str, page: PageParams
    ) -> CursorPage[FineTuningJobCheckpoint]:
        """``client.fine_tuning.jobs.checkpoints.list``: one per epoch (the route pages
        newest first); ``NotFound`` (404) for another project's job."""

        def checkpoints() -> CursorPage[FineTuningJobCheckpoint]:
            self._job(caller, job_id)
            return self.store.checkpoints(job_id, page).to(checkpoint_object)

        return await asyncio.to_thread(checkpoints)


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
    tmp.replace(path)
