"""The server <-> worker contract, typed once and used on both sides: the job folder's
layout, ``spec.json`` (what the fine-tuning service asks the worker to train), the worker's
JSON-line events on stdout, and a checkpoint's ``progress.json``.

Only pydantic here: the server imports this module without torch, and the worker without
the server (docs/fine-tuning-training.md).

``spec.json``: ``{"base_gguf", "method", "hyperparameters": {"n_epochs", "batch_size",
"learning_rate_multiplier", "beta"}, "seed", "threads", "lora": {"r", "alpha", "targets"},
"train", "valid", "base_cache"}``. ``train`` / ``valid`` are relative to JOB_DIR (or
absolute). Events: ``started``, ``step`` (per optimizer step), ``checkpoint`` (after its
files are complete), ``done`` or ``error``, paths relative to JOB_DIR. Unknown keys are
rejected everywhere, so contract drift is loud.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Target = Literal["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# The learning rate is ``learning_rate_multiplier * BASE_LEARNING_RATE[method]``. Measured
# on SmolLM2-135M with LoRA r=16 (docs/fine-tuning-training.md): supervised 1e-3 takes the
# training loss from 3.7 to <0.1 within two epochs of 100 short examples at batch 4; dpo
# at 1e-3 saturates its loss in two steps (margin +21 nats), so it starts 10x lower.
BASE_LEARNING_RATE = {"supervised": 1e-3, "dpo": 1e-4}

# --- JOB_DIR layout ------------------------------------------------------------------------

SPEC = "spec.json"
TRAIN = "train.jsonl"
VALID = "valid.jsonl"
MODEL = "model.gguf"
"""A checkpoint's merged model (what the engine serves)."""
ADAPTER = "adapter.gguf"
"""A checkpoint's llama.cpp LoRA adapter."""
FINAL = "final"
"""The folder of the last epoch's model and adapter."""
STATE = "state"
"""A checkpoint's resume state (PEFT adapter, optimizer, ``progress.json``)."""
PROGRESS = "progress.json"


def checkpoint_dir(epoch: int) -> str:
    """``ckpt-<epoch>``: the folder of the checkpoint after ``epoch`` (1-based)."""
    return f"ckpt-{epoch}"


def progress_path(job_dir: Path, epoch: int) -> Path:
    """``ckpt-<epoch>/state/progress.json``: where training stood at that checkpoint."""
    return job_dir / checkpoint_dir(epoch) / STATE / PROGRESS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- spec.json ------------------------------------------------------------------------------


class Hyperparameters(_Strict):
    """Already resolved by the service (no ``"auto"``); defaults are OpenAI's usual ones."""

    n_epochs: int = Field(default=3, ge=1, le=50)
    batch_size: int = Field(default=4, ge=1, le=256)
    learning_rate_multiplier: float = Field(default=1.0, gt=0, le=100)
    beta: float = Field(default=0.1, gt=0, le=2)
    """DPO only: strength of the penalty for drifting from the reference model."""


class LoraSettings(_Strict):
    """LoRA rank, alpha (scale = alpha / r) and the HF module names it adapts."""

    r: int = Field(default=16, ge=1, le=256)
    alpha: int = Field(default=32, ge=1)
    targets: tuple[Target, ...] = Field(
        default=("q_proj", "k_proj", "v_proj", "o_proj"), min_length=1
    )


class JobSpec(_Strict):
    """One training job. ``threads``: torch intra-op threads (default: all cores).
    ``base_cache``: optional directory where the base model dequantized to fp32 is kept
    (~540 MB for SmolLM2-135M); later jobs load it in ~1 s instead of ~20 s."""

    base_gguf: Path
    method: Literal["supervised", "dpo"]
    hyperparameters: Hyperparameters = Hyperparameters()
    seed: int = 0
    threads: int | None = Field(default=None, ge=1)
    lora: LoraSettings = LoraSettings()
    train: str = TRAIN
    valid: str | None = None
    base_cache: Path | None = None

    @property
    def learning_rate(self) -> float:
        return self.hyperparameters.learning_rate_multiplier * BASE_LEARNING_RATE[self.method]


def read_spec(job_dir: Path) -> JobSpec:
    """Parse ``job_dir/spec.json``; raises ``OSError`` or pydantic's ``ValidationError``."""
    return JobSpec.model_validate_json((job_dir / SPEC).read_bytes())


def write_spec(job_dir: Path, spec: JobSpec) -> None:
    """Write ``job_dir/spec.json`` atomically (a temp file renamed into place)."""
    tmp = job_dir / f"{SPEC}.tmp"
    tmp.write_text(spec.model_dump_json(indent=1))
    os.replace(tmp, job_dir / SPEC)


# --- events (worker stdout, one JSON object per line) ---------------------------------------


class CheckpointMetrics(_Strict):
    """OpenAI's ``FineTuningJobCheckpoint.metrics``: train figures are the epoch's means,
    valid ones the whole validation set at the checkpoint; keys that do not apply (the
    accuracies for DPO, validation without a validation file) are left out."""

    step: int
    train_loss: float
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


class StartedEvent(_Strict):
    """After the model is loaded (and its state restored), before the first step."""

    event: Literal["started"] = "started"
    total_steps: int
    epochs: int
    steps_per_epoch: int
    resumed_from_epoch: int = 0
    """The last complete checkpoint's epoch (0 when fresh): the truth after a kill."""


class StepEvent(_Strict):
    """After each optimizer step. ``tokens``: real (non-pad) tokens of the batch;
    ``valid_*`` every 10 steps on one validation batch, ``full_valid_*`` (and ``valid_*``)
    on the whole validation set at the last step of an epoch."""

    event: Literal["step"] = "step"
    step: int
    """Global, 1-based."""
    epoch: int
    train_loss: float
    tokens: int
    train_mean_token_accuracy: float | None = None
    """Supervised only."""
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


class CheckpointEvent(_Strict):
    """After ``ckpt-<epoch>/`` is renamed into place: ``model`` / ``adapter`` are
    ``ckpt-<epoch>/model.gguf`` / ``adapter.gguf``."""

    event: Literal["checkpoint"] = "checkpoint"
    epoch: int
    step: int
    model: str
    adapter: str
    metrics: CheckpointMetrics


class DoneEvent(_Strict):
    """After ``final/`` is in place (``final/model.gguf``, ``final/adapter.gguf``)."""

    event: Literal["done"] = "done"
    trained_tokens: int
    model: str
    adapter: str


class ErrorEvent(_Strict):
    """Bad spec or data, a diverged loss or an unexpected exception (the traceback is on
    stderr); the worker then exits with status 1."""

    event: Literal["error"] = "error"
    message: str


WorkerEvent = StartedEvent | StepEvent | CheckpointEvent | DoneEvent | ErrorEvent
"""One line of the worker's stdout."""

_EVENT: TypeAdapter[WorkerEvent] = TypeAdapter(Annotated[WorkerEvent, Field(discriminator="event")])


def event_line(event: WorkerEvent) -> str:
    """The JSON line of ``event`` (fields that do not apply, i.e. None, left out)."""
    return event.model_dump_json(exclude_none=True) + "\n"


def parse_event(line: str | bytes) -> WorkerEvent:
    """One stdout line as its event; raises pydantic's ``ValidationError`` for anything
    else (malformed JSON, an unknown event, a missing or unknown field)."""
    return _EVENT.validate_json(line)


# --- ckpt-<epoch>/state/progress.json -------------------------------------------------------


class CheckpointProgress(_Strict):
    """Where training stood at a checkpoint (written by the worker, read by the server to
    record a checkpoint whose event a kill cut off)."""

    epoch: int
    step: int
    trained_tokens: int
    metrics: CheckpointMetrics


def read_progress(job_dir: Path, epoch: int) -> CheckpointProgress:
    """Checkpoint ``epoch``'s ``progress.json``; raises ``OSError`` or ``ValidationError``."""
    return CheckpointProgress.model_validate_json(progress_path(job_dir, epoch).read_bytes())
