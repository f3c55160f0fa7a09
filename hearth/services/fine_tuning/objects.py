"""Rows -> the API's JSON objects (API reference: Fine-tuning → The fine-tuning job object,
The fine-tuning job event object, The fine-tuning job checkpoint object)."""

from __future__ import annotations

from typing import Any

from hearth.store.models import FineTuningCheckpoint, FineTuningEvent, FineTuningJob


def job_object(job: FineTuningJob) -> dict[str, Any]:
    """``fine_tuning.job``; ``hyperparameters`` repeats the method's (deprecated field)."""
    method = job.method
    hp = method.get(method["type"], {}).get("hyperparameters", {})
    return {
        "id": job.id, "object": "fine_tuning.job", "created_at": job.created_at,
        "error": job.error, "fine_tuned_model": job.fine_tuned_model,
        "finished_at": job.finished_at,
        "hyperparameters": {k: hp[k] for k in ("n_epochs", "batch_size",
                                               "learning_rate_multiplier") if k in hp},
        "model": job.model, "organization_id": job.organization_id,
        "result_files": job.result_files or [], "seed": job.seed, "status": job.status,
        "trained_tokens": job.trained_tokens, "training_file": job.training_file,
        "validation_file": job.validation_file, "estimated_finish": job.estimated_finish,
        "integrations": None, "metadata": job.metadata_, "method": method,
        "user_provided_suffix": job.suffix,
    }


def event_object(event: FineTuningEvent) -> dict[str, Any]:
    """``fine_tuning.job.event``."""
    return {"id": event.id, "object": "fine_tuning.job.event",
            "created_at": event.created_at, "level": event.level, "message": event.message,
            "data": event.data, "type": event.type}


def checkpoint_object(ckpt: FineTuningCheckpoint) -> dict[str, Any]:
    """``fine_tuning.job.checkpoint``."""
    return {"id": ckpt.id, "object": "fine_tuning.job.checkpoint",
            "created_at": ckpt.created_at,
            "fine_tuned_model_checkpoint": ckpt.fine_tuned_model_checkpoint,
            "fine_tuning_job_id": ckpt.job_id, "metrics": ckpt.metrics,
            "step_number": ckpt.step_number}
