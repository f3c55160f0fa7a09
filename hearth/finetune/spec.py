"""``JOB_DIR/spec.json``: what the fine-tuning service asks the worker to train.

Shape (docs/fine-tuning-training.md): ``{"base_gguf", "method", "hyperparameters":
{"n_epochs", "batch_size", "learning_rate_multiplier", "beta"}, "seed", "threads", "lora":
{"r", "alpha", "targets"}, "train", "valid", "base_cache"}``. ``train`` / ``valid`` are
relative to JOB_DIR (or absolute). Unknown keys are rejected so contract drift is loud.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Target = Literal["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# The learning rate is ``learning_rate_multiplier * BASE_LEARNING_RATE[method]``. Measured
# on SmolLM2-135M with LoRA r=16 (docs/fine-tuning-training.md): supervised 1e-3 takes the
# training loss from 3.7 to <0.1 within two epochs of 100 short examples at batch 4; dpo
# at 1e-3 saturates its loss in two steps (margin +21 nats), so it starts 10x lower.
BASE_LEARNING_RATE = {"supervised": 1e-3, "dpo": 1e-4}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    targets: tuple[Target, ...] = Field(default=("q_proj", "k_proj", "v_proj", "o_proj"),
                                        min_length=1)


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
    train: str = "train.jsonl"
    valid: str | None = None
    base_cache: Path | None = None

    @property
    def learning_rate(self) -> float:
        return self.hyperparameters.learning_rate_multiplier * BASE_LEARNING_RATE[self.method]


def read_spec(job_dir: Path) -> JobSpec:
    """Parse ``job_dir/spec.json``; raises ``OSError`` or pydantic's ``ValidationError``."""
    return JobSpec.model_validate_json((job_dir / "spec.json").read_bytes())
