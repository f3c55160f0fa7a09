"""``POST /v1/fine_tuning/jobs`` body and hyperparameter resolution (API reference:
Fine-tuning → Create fine-tuning job; ``"auto"`` values are resolved at creation and the job
reports the values it uses)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hearth.errors import InvalidRequest, invalid_request
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


class _Resolved(BaseModel):
    """The range of each resolved value (docs/fine-tuning.md)."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: int = Field(ge=1, le=50)
    batch_size: int = Field(ge=1, le=256)
    learning_rate_multiplier: float = Field(gt=0, le=10)
    beta: float | None = Field(default=None, gt=0, le=2)


def _given(value: Any, default: Any) -> Any:
    return default if value is None or value == "auto" else value


def resolve_method(params: JobParams, examples: int) -> dict[str, Any]:
    """The job's ``method`` with every hyperparameter resolved; raises ``InvalidRequest``
    for a value out of range (``param`` its path under ``method.<type>.hyperparameters``,
    also for the deprecated top-level form), an unsupported method, or both
    ``hyperparameters`` and ``method``.

    ``auto``: 3 epochs, batch size 4 (or the number of examples if fewer), multiplier 1.0,
    beta 0.1 (dpo)."""
    method = params.method or Method(type="supervised")
    if method.type == "reinforcement":
        raise InvalidRequest(
            "Reinforcement fine-tuning is not supported by Hearth.", param="method.type"
        )
    if params.hyperparameters is not None and params.method is not None:
        raise InvalidRequest(
            "Pass hyperparameters inside 'method', not both.", param="hyperparameters"
        )
    section = method.supervised if method.type == "supervised" else method.dpo
    hp = (
        params.hyperparameters
        if params.hyperparameters is not None
        else section.hyperparameters
        if section
        else None
    ) or Hyperparameters()
    values = {
        "n_epochs": _given(hp.n_epochs, DEFAULT_EPOCHS),
        "batch_size": _given(hp.batch_size, max(1, min(DEFAULT_BATCH, examples))),
        "learning_rate_multiplier": _given(hp.learning_rate_multiplier, 1.0),
    }
    if method.type == "dpo":
        values["beta"] = _given(hp.beta, DEFAULT_BETA)
    try:
        resolved = _Resolved.model_validate(values)
    except ValidationError as exc:
        raise invalid_request(exc, f"method.{method.type}.hyperparameters") from None
    return {
        "type": method.type,
        method.type: {"hyperparameters": resolved.model_dump(exclude_none=True)},
    }


def check_suffix(suffix: str | None) -> None:
    """Up to 64 of ``[A-Za-z0-9_.-]`` (it becomes part of the model id); else a 400."""
    if suffix is not None and not SUFFIX.match(suffix):
        raise InvalidRequest(
            "suffix must be 1 to 64 letters, digits, '-', '_' or '.'.", param="suffix"
        )
