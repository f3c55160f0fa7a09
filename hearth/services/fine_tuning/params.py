"""``POST /v1/fine_tuning/jobs`` body and hyperparameter resolution (API reference:
Fine-tuning → Create fine-tuning job; ``"auto"`` values are resolved at creation and the job
reports the values it uses)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hearth.errors import InvalidRequest
from hearth.services.chat.metadata import Metadata

Auto = Literal["auto"]
SUFFIX = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_EPOCHS = 3
DEFAULT_BATCH = 4
DEFAULT_BETA = 0.1


class Hyperparameters(BaseModel):
    """``n_epochs`` 1-50, ``batch_size`` 1-256, ``learning_rate_multiplier`` (0, 10],
    ``beta`` (dpo) (0, 2]; each may be ``"auto"``."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: int | Auto | None = None
    batch_size: int | Auto | None = None
    learning_rate_multiplier: float | Auto | None = None
    beta: float | Auto | None = None


class _MethodParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: Hyperparameters | None = None


class Method(BaseModel):
    """``{"type": "supervised" | "dpo", "supervised": {...} | "dpo": {...}}``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: _MethodParams | None = None
    dpo: _MethodParams | None = None
    reinforcement: dict[str, Any] | None = None


class JobParams(BaseModel):
    """The create body; unknown fields are a 400."""

    model_config = ConfigDict(extra="forbid")

    model: str
    training_file: str
    validation_file: str | None = None
    suffix: str | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    method: Method | None = None
    hyperparameters: Hyperparameters | None = None
    """Deprecated top-level form (supervised only)."""
    metadata: Metadata = None
    integrations: list[dict[str, Any]] | None = None


def _pick(value: Any, default: Any, name: str, low: float, high: float,
          integer: bool) -> Any:
    if value is None or value == "auto":
        return default
    if integer and not isinstance(value, int):
        raise InvalidRequest(f"{name} must be an integer or 'auto'.", param=name)
    if not low <= value <= high or (not integer and value == 0):
        raise InvalidRequest(f"{name} must be between {low} and {high}, got {value}.",
                             param=name)
    return value


def resolve_method(params: JobParams, examples: int) -> dict[str, Any]:
    """The job's ``method`` with every hyperparameter resolved; raises ``InvalidRequest``
    for a bad value, an unsupported method, or both ``hyperparameters`` and ``method``.

    ``auto``: 3 epochs, batch size 4 (or the number of examples if fewer), multiplier 1.0,
    beta 0.1."""
    method = params.method or Method(type="supervised")
    if method.type == "reinforcement":
        raise InvalidRequest("Reinforcement fine-tuning is not supported by Hearth.",
                             param="method.type")
    if params.hyperparameters is not None and params.method is not None:
        raise InvalidRequest("Pass hyperparameters inside 'method', not both.",
                             param="hyperparameters")
    section = method.supervised if method.type == "supervised" else method.dpo
    hp = (params.hyperparameters if params.hyperparameters is not None
          else section.hyperparameters if section else None) or Hyperparameters()
    prefix = f"method.{method.type}.hyperparameters."
    resolved: dict[str, Any] = {
        "n_epochs": _pick(hp.n_epochs, DEFAULT_EPOCHS, prefix + "n_epochs", 1, 50, True),
        "batch_size": _pick(hp.batch_size, max(1, min(DEFAULT_BATCH, examples)),
                            prefix + "batch_size", 1, 256, True),
        "learning_rate_multiplier": float(_pick(
            hp.learning_rate_multiplier, 1.0, prefix + "learning_rate_multiplier", 0, 10,
            False)),
    }
    if method.type == "dpo":
        resolved["beta"] = float(_pick(hp.beta, DEFAULT_BETA, prefix + "beta", 0, 2, False))
    return {"type": method.type, method.type: {"hyperparameters": resolved}}


def check_suffix(suffix: str | None) -> None:
    """Up to 64 of ``[A-Za-z0-9_.-]`` (it becomes part of the model id); else a 400."""
    if suffix is not None and not SUFFIX.match(suffix):
        raise InvalidRequest("suffix must be 1 to 64 letters, digits, '-', '_' or '.'.",
                             param="suffix")
