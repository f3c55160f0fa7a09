"""Rows -> the SDK's own types (API reference: Fine-tuning → The fine-tuning job object,
The fine-tuning job event object, The fine-tuning job checkpoint object), validated, every
field OpenAI sends set (nulls included)."""

from __future__ import annotations

from typing import Literal

from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from hearth.store.models import FineTuningCheckpoint, FineTuningEvent
from hearth.store.models import FineTuningJob as JobRow

Status = Literal[
    "validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled"
]


class Job(FineTuningJob):
    """The SDK's ``FineTuningJob`` whose ``status`` may also be ``paused``: OpenAI reports
    it after ``jobs.pause`` (API reference: Pause fine-tuning), the SDK's literal lacks it."""

    status: Status  # type: ignore[assignment]


def job_object(job: JobRow, status: Status | None = None) -> FineTuningJob:
    """``fine_tuning.job``, as ``status`` (default: the row's). ``fine_tuned_model`` is
    only reported once the job has succeeded (the id is chosen at creation);
    ``hyperparameters`` repeats the method's (a deprecated field)."""
    shown = status or job.status
    method = job.method
    hp = method.get(method["type"], {}).get("hyperparameters", {})
    return Job.model_validate(
        {
            "id": job.id,
            "object": "fine_tuning.job",
            "created_at": job.created_at,
            "error": job.error,
            "fine_tuned_model": job.fine_tuned_model if shown == "succeeded" else None,
            "finished_at": job.finished_at,
            "hyperparameters": {
                k: hp[k] for k in ("n_epochs", "batch_size", "learning_rate_multiplier") if k in hp
            },
            "model": job.model,
            "organization_id": job.organization_id,
            "result_files": job.result_files or [],
            "seed": job.seed,
            "status": shown,
            "trained_tokens": job.trained_tokens,
            "training_file": job.training_file,
            "validation_file": job.validation_file,
            "estimated_finish": job.estimated_finish,
            "integrations": None,
            "metadata": job.metadata_,
            "method": method,
        }
    )


def event_object(event: FineTuningEvent) -> FineTuningJobEvent:
    """``fine_tuning.job.event``: ``type`` ``message`` (status changes) or ``metrics``
    (one per step: ``data`` ``{"step", "train_loss", "total_steps", ...}``)."""
    return FineTuningJobEvent.model_validate(
        {
            "id": event.id,
            "object": "fine_tuning.job.event",
            "created_at": event.created_at,
            "level": event.level,
            "message": event.message,
            "data": event.data,
            "type": event.type,
        }
    )


def checkpoint_object(ckpt: FineTuningCheckpoint) -> FineTuningJobCheckpoint:
    """``fine_tuning.job.checkpoint``: ``fine_tuned_model_checkpoint`` is a model id chat
    completions accept."""
    return FineTuningJobCheckpoint.model_validate(
        {
            "id": ckpt.id,
            "object": "fine_tuning.job.checkpoint",
            "created_at": ckpt.created_at,
            "fine_tuned_model_checkpoint": ckpt.fine_tuned_model_checkpoint,
            "fine_tuning_job_id": ckpt.job_id,
            "metrics": ckpt.metrics,
            "step_number": ckpt.step_number,
        }
    )
