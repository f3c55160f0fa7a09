"""Request bodies of the Evals API (OpenAI API reference: Evals > Create eval, Update an
eval, Create eval run). The nested objects stay dicts here: ``data_sources``,
``criteria`` and ``samples`` check them, each naming the offending ``param``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from hearth.services.chat.metadata import Metadata


class CreateEvalParams(BaseModel):
    """Body of ``POST /v1/evals``."""

    model_config = ConfigDict(extra="allow")

    data_source_config: dict[str, Any]
    testing_criteria: list[dict[str, Any]]
    name: str | None = None
    metadata: Metadata = None


class UpdateEvalParams(BaseModel):
    """Body of ``POST /v1/evals/{eval_id}``: only ``name`` and ``metadata`` change."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    metadata: Metadata = None


class CreateRunParams(BaseModel):
    """Body of ``POST /v1/evals/{eval_id}/runs``."""

    model_config = ConfigDict(extra="allow")

    data_source: dict[str, Any]
    name: str | None = None
    metadata: Metadata = None
