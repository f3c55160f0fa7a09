"""``client.fine_tuning.jobs`` (API reference: Fine-tuning), and the catalog through which
the engine serves the resulting models (``engine.registry.ModelCatalog``).

A job is validated completely at creation (the training file is parsed, checked line by
line and tokenized), so a bad file is a 400 before anything trains. Training runs in a
worker process (``runner.py``); the model ``ft:<base>:<org>:<suffix>:<id>`` and one model
per epoch checkpoint (``...:ckpt-step-<N>``) are then served by the same engine as the
base, owned by the job's organization.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import io
import json
import logging
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hearth.config import Settings
from hearth.engine.registry import ModelRegistry
from hearth.errors import InvalidRequest, NotFound
from hearth.services.files import Files
from hearth.services.fine_tuning.catalog import Catalog
from hearth.services.fine_tuning.objects import checkpoint_object, event_object, job_object
from hearth.services.fine_tuning.params import JobParams, check_suffix, resolve_method
from hearth.services.fine_tuning.runner import JobRunner
from hearth.services.fine_tuning.training_data import Tokenizer, parse
from hearth.store import leases
from hearth.domain import Principal
from hearth.store.fine_tuning import JOB_PREFIX, FineTuningStore
from hearth.store.ids import new_id
from hearth.store.models import FineTuningJob, Organization, now_unix
from hearth.store.pages import check_limit, list_body

log = logging.getLogger(__name__)

LORA = {"r": 16, "alpha": 32, "targets": ["q_proj", "k_proj", "v_proj", "o_proj"]}
"""LoRA settings of every job (docs/fine-tuning.md: measured on SmolLM2-135M)."""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "org"


def _not_found(job_id: str) -> NotFound:
    return NotFound(f"No fine-tuning job found with id '{job_id}'.", param="fine_tuning_job_id",
                    code="fine_tune_not_found")


class FineTuning:
    """Jobs, events, checkpoints, and the models they produce."""

    def __init__(self, sessions: sessionmaker[Session], files: Files, models: ModelRegistry,
                 settings: Settings) -> None:
        self._sessions = sessions
        self._files = files
        self._models = models
        self._settings = settings
        self.store = FineTuningStore(sessions)
        self.runner = JobRunner(self.store, settings, self._finish)
        self.catalog = Catalog(self.store, settings.data_dir)
        models.set_catalog(self.catalog)

    async def start(self) -> None:
        """Start the runner (it resumes jobs whose lease expired)."""
        self.runner.start()

    async def stop(self) -> None:
        """Stop the runner and its worker; running jobs resume on the next start."""
        await self.runner.stop()

    # --- jobs -------------------------------------------------------------------------

    async def create(self, principal: Principal, params: JobParams) -> dict[str, Any]:
        """Validate everything, write the tokenized data, queue the job; the job object.

        Raises ``ModelNotFound`` (404, param ``model``) for an unknown model,
        ``InvalidRequest`` (400) for a model that cannot be fine-tuned, a bad suffix or
        hyperparameter, a missing file or one with another purpose, and a bad training or
        validation file (line-numbered, ``code`` ``invalid_training_file``)."""
        if not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft")):
            raise InvalidRequest("Fine-tuning needs Hearth's 'finetune' extra: pip install "
                                 "'hearth[finetune]'.", code="finetune_unavailable")
        if params.model.startswith("ft:"):  # continuing a fine-tune is not supported yet
            await self._models.aget(params.model, principal.organization_id)  # 404 if absent
            raise InvalidRequest(f"Model {params.model} is not available for fine-tuning.",
                                 param="model", code="model_not_available")
        served = await self._models.aget(params.model, principal.organization_id)
        source = served.source
        if served.id != params.model:
            raise InvalidRequest(f"Model {params.model} is not available for fine-tuning.",
                                 param="model", code="model_not_available")
        check_suffix(params.suffix)
        project = principal.project_id
        _, train_bytes = await asyncio.to_thread(
            self._files.read, project, params.training_file, purposes=("fine-tune",),
            param="training_file")
        valid_bytes = None
        if params.validation_file:
            _, valid_bytes = await asyncio.to_thread(
                self._files.read, project, params.validation_file, purposes=("fine-tune",),
                param="validation_file")
        method_type = params.method.type if params.method else "supervised"
        tokenizer = Tokenizer(served.runner, served.runner.context_length)
        vision = False  # no bundled base model reads images
        train = await asyncio.to_thread(
            parse, train_bytes, method_type, tokenizer, param="training_file", vision=vision,
            min_examples=self._settings.finetune_min_examples)
        valid = None if valid_bytes is None else await asyncio.to_thread(
            parse, valid_bytes, method_type, tokenizer, param="validation_file",
            vision=vision, min_examples=1)
        method = resolve_method(params, train.examples)
        job_id = new_id(JOB_PREFIX)
        org = await asyncio.to_thread(self._org_slug, principal.organization_id)
        model_id = f"ft:{params.model}:{org}:{params.suffix or ''}:{job_id[len(JOB_PREFIX):][:8]}"
        seed = params.seed if params.seed is not None else secrets.randbelow(2**31)
        await asyncio.to_thread(self._write_job_dir, job_id, Path(source), method, seed,
                                train.lines, valid.lines if valid else None)
        job = await asyncio.to_thread(
            self.store.insert_job, id=job_id, project_id=project,
            organization_id=principal.organization_id, model=params.model,
            fine_tuned_model=model_id, status="queued", training_file=params.training_file,
            validation_file=params.validation_file, suffix=params.suffix, seed=seed,
            method=method, metadata_=params.metadata, events=[
                f"Validating training file: {params.training_file}"
                + (f" and validation file: {params.validation_file}" if valid else ""),
                f"Files validated ({train.examples} examples, {train.tokens} tokens per "
                "epoch), moving job to queued state"])
        job.fine_tuned_model = None  # reported once the model exists
        self.runner.wake()
        return job_object(job)

    def _org_slug(self, organization_id: str) -> str:
        with self._sessions() as session:
            org = session.get(Organization, organization_id)
            return _slug(org.name if org else organization_id)

    def _write_job_dir(self, job_id: str, base: Path, method: dict[str, Any], seed: int,
                       train: list[dict[str, Any]], valid: list[dict[str, Any]] | None) -> None:
        folder = self.runner.job_dir(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        _write_lines(folder / "train.jsonl", train)
        if valid is not None:
            _write_lines(folder / "valid.jsonl", valid)
        spec = {"base_gguf": str(base), "method": method["type"],
                "hyperparameters": method[method["type"]]["hyperparameters"], "seed": seed,
                "threads": self._settings.finetune_threads, "lora": LORA,
                "train": "train.jsonl", "valid": "valid.jsonl" if valid is not None else None,
                # the base dequantized to fp32 once, shared by later jobs (loads in ~1 s)
                "base_cache": str(self._settings.data_dir / "models" / "finetune-base"
                                  / base.stem)}
        tmp = folder / "spec.json.tmp"
        tmp.write_text(json.dumps(spec, indent=1))
        tmp.replace(folder / "spec.json")

    def _job(self, project_id: str, job_id: str) -> FineTuningJob:
        job = self.store.job(project_id, job_id)
        if job is None:
            raise _not_found(job_id)
        return job

    def _shown(self, job: FineTuningJob) -> dict[str, Any]:
        if job.status != "succeeded":
            job.fine_tuned_model = None
        return job_object(job)

    def retrieve(self, project_id: str, job_id: str) -> dict[str, Any]:
        """The job object; ``NotFound`` (404) if it is not this project's."""
        return self._shown(self._job(project_id, job_id))

    def list(self, project_id: str, *, after: str | None, limit: int,
             metadata: dict[str, str] | None) -> dict[str, Any]:
        """This project's jobs, newest first."""
        page = self.store.jobs(project_id, after=after, limit=check_limit(limit),
                               metadata=metadata)
        return list_body([self._shown(j) for j in page.items], page.has_more)

    def _request(self, project_id: str, job_id: str, action: str) -> dict[str, Any]:
        """Apply ``cancel`` or ``pause``: directly to a job that is not training, through
        ``control`` to a running one (its runner stops the worker within a second).
        Retried because the runner may claim the job between the read and the write."""
        direct = ("queued", "paused", "validating_files") if action == "cancel" else ("queued",)
        final = "cancelled" if action == "cancel" else "paused"
        for _ in range(5):
            job = self._job(project_id, job_id)
            if job.status in direct:
                extra = {"finished_at": now_unix()} if action == "cancel" else {}
                if self.store.update_job(job_id, where_status=(job.status,), status=final,
                                         events=[f"Fine-tuning job {final}"], **extra):
                    break
            elif job.status == "running":
                if self.store.update_job(job_id, where_status=("running",), control=action):
                    break
            else:
                allowed = "has not ended" if action == "cancel" else "is queued or running"
                raise InvalidRequest(f"Job {job_id} is {job.status}; only a job that "
                                     f"{allowed} can be {final}.", param="fine_tuning_job_id")
        fresh = self._job(project_id, job_id)
        if fresh.control == action:
            fresh.status = final  # reported as done; the runner confirms it
        return self._shown(fresh)

    def cancel(self, project_id: str, job_id: str) -> dict[str, Any]:
        """Cancel a job that has not ended; 400 for a finished one."""
        return self._request(project_id, job_id, "cancel")

    def pause(self, project_id: str, job_id: str) -> dict[str, Any]:
        """Pause a queued or running job (it keeps its checkpoints); 400 otherwise."""
        return self._request(project_id, job_id, "pause")

    def resume(self, project_id: str, job_id: str) -> dict[str, Any]:
        """Queue a paused job again; it continues after its last checkpoint."""
        job = self._job(project_id, job_id)
        if job.status != "paused" or not self.store.update_job(
                job_id, where_status=("paused",), status="queued", control=None,
                events=["Fine-tuning job resumed"]):
            raise InvalidRequest(f"Job {job_id} is {job.status}; only a paused job can be "
                                 "resumed.", param="fine_tuning_job_id")
        self.runner.wake()
        return self._shown(self._job(project_id, job_id))

    def events(self, project_id: str, job_id: str, *, after: str | None,
               limit: int) -> dict[str, Any]:
        """The job's events, newest first."""
        self._job(project_id, job_id)
        page = self.store.events(job_id, after=after, limit=check_limit(limit))
        return list_body([event_object(e) for e in page.items], page.has_more)

    def checkpoints(self, project_id: str, job_id: str, *, after: str | None,
                    limit: int) -> dict[str, Any]:
        """The job's checkpoints, newest first."""
        self._job(project_id, job_id)
        page = self.store.checkpoints(job_id, after=after, limit=check_limit(limit))
        return list_body([checkpoint_object(c) for c in page.items], page.has_more)

    # --- completion (runner callback, worker thread) ------------------------------------

    def _finish(self, job: FineTuningJob, done: dict[str, Any]) -> None:
        """Record the final model (already renamed into place by the worker)."""
        path = self.runner.job_dir(job.id) / done["model"]
        rel = str(path.relative_to(self._settings.data_dir))
        results: list[str] = []
        try:
            results.append(self._files.create_bytes(
                job.project_id, "step_metrics.csv", self._metrics_csv(job.id),
                "fine-tune-results")["id"])
        except Exception:  # a missing results file must not fail the job
            log.exception("fine-tuning job %s: could not write its results file", job.id)
        for state in self.runner.job_dir(job.id).glob("ckpt-*/state"):
            shutil.rmtree(state, ignore_errors=True)  # resume state: not needed any more
        if leases.release(self.store.sessions, FineTuningJob, job.id, status="succeeded",
                          model_path=rel, finished_at=now_unix(), estimated_finish=None,
                          trained_tokens=int(done.get("trained_tokens") or 0),
                          result_files=results, control=None):
            self.store.add_event(job.id, f"New fine-tuned model created: {job.fine_tuned_model}")
            self.store.add_event(job.id, "The job has successfully completed")

    def _metrics_csv(self, job_id: str) -> bytes:
        rows = []
        after = None
        while True:
            page = self.store.events(job_id, after=after, limit=100, order="asc")
            rows += [e.data for e in page.items if e.type == "metrics" and e.data]
            if not page.has_more:
                break
            after = page.items[-1].id
        out = io.StringIO()
        writer = csv.DictWriter(out, ["step", "train_loss", "valid_loss",
                                      "train_mean_token_accuracy"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode()

def _write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
    tmp.replace(path)
