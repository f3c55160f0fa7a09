"""Rows as the SDK's objects (OpenAI API reference: Evals > The eval object, The eval run
object, The eval run output item object), each built with validation, every field set.

Two things OpenAI sends that the SDK's types do not declare, kept as OpenAI sends them:

* ``null`` where a type declares a value: a run's ``error`` (no error) and ``model`` (a
  ``jsonl`` run evaluates no model); an output item sample's ``error``, ``seed``,
  ``max_completion_tokens``, ``temperature`` and ``top_p`` when there were none. The rest
  of the object is validated with a stand-in there, then the null is put back.
* Hearth's ``multi`` testing criterion (docs/graders.md): OpenAI's eval types list no
  ``multi``, so an eval that has one is built as a subclass of the SDK's type whose
  ``testing_criteria`` also admit ``MultiCriterion``.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import openai
from openai.types import (
    EvalCreateResponse,
    EvalListResponse,
    EvalRetrieveResponse,
    EvalUpdateResponse,
    eval_create_response,
    eval_list_response,
    eval_retrieve_response,
    eval_update_response,
)
from openai.types.evals import (
    RunCancelResponse,
    RunCreateResponse,
    RunListResponse,
    RunRetrieveResponse,
)
from openai.types.evals.runs import OutputItemListResponse, OutputItemRetrieveResponse
from openai.types.graders.multi_grader import Graders

from hearth.store.models import Eval, EvalOutputItem, EvalRun

EvalT = TypeVar(
    "EvalT", EvalCreateResponse, EvalRetrieveResponse, EvalUpdateResponse, EvalListResponse
)
RunT = TypeVar("RunT", RunCreateResponse, RunRetrieveResponse, RunListResponse, RunCancelResponse)
ItemT = TypeVar("ItemT", OutputItemRetrieveResponse, OutputItemListResponse)


class MultiCriterion(openai.BaseModel):
    """A ``multi`` testing criterion as stored and returned: sub-graders (a map name ->
    grader, a list, or one grader) combined by ``calculate_output``."""

    id: str
    name: str
    type: Literal["multi"]
    graders: dict[str, Graders] | list[Graders] | Graders
    calculate_output: str
    pass_threshold: float


class _CreateWithMulti(EvalCreateResponse):
    testing_criteria: list[  # type: ignore[assignment]
        eval_create_response.TestingCriterion | MultiCriterion
    ]


class _RetrieveWithMulti(EvalRetrieveResponse):
    testing_criteria: list[  # type: ignore[assignment]
        eval_retrieve_response.TestingCriterion | MultiCriterion
    ]


class _UpdateWithMulti(EvalUpdateResponse):
    testing_criteria: list[  # type: ignore[assignment]
        eval_update_response.TestingCriterion | MultiCriterion
    ]


class _ListWithMulti(EvalListResponse):
    testing_criteria: list[  # type: ignore[assignment]
        eval_list_response.TestingCriterion | MultiCriterion
    ]


_WITH_MULTI: dict[type[openai.BaseModel], type[openai.BaseModel]] = {
    EvalCreateResponse: _CreateWithMulti,
    EvalRetrieveResponse: _RetrieveWithMulti,
    EvalUpdateResponse: _UpdateWithMulti,
    EvalListResponse: _ListWithMulti,
}

_NO_ERROR = {"code": "", "message": ""}
_SAMPLE_STAND_INS: dict[str, Any] = {
    "error": _NO_ERROR,
    "seed": 0,
    "max_completion_tokens": 0,
    "temperature": 0.0,
    "top_p": 0.0,
}


def eval_object(cls: type[EvalT], row: Eval) -> EvalT:
    """``{"object": "eval", "id", "name", "data_source_config", "testing_criteria",
    "metadata", "created_at"}`` as ``cls``."""
    data = {
        "object": "eval",
        "id": row.id,
        "name": row.name,
        "data_source_config": row.data_source_config,
        "testing_criteria": row.testing_criteria,
        "metadata": row.metadata_,
        "created_at": row.created_at,
    }
    if any(c["type"] == "multi" for c in row.testing_criteria):
        return _WITH_MULTI[cls].model_validate(data)  # type: ignore[return-value]
    return cls.model_validate(data)


def run_object(cls: type[RunT], row: EvalRun) -> RunT:
    """``{"object": "eval.run", "id", "eval_id", "name", "model", "status",
    "data_source" (as sent), "metadata", "result_counts", "per_model_usage",
    "per_testing_criteria_results", "error", "report_url", "created_at"}`` as ``cls``."""
    run = cls.model_validate(
        {
            "object": "eval.run",
            "id": row.id,
            "eval_id": row.eval_id,
            "name": row.name,
            "model": row.model or "",
            "status": row.status,
            "data_source": row.data_source,
            "metadata": row.metadata_,
            "result_counts": row.result_counts,
            "per_model_usage": row.per_model_usage,
            "per_testing_criteria_results": row.per_testing_criteria_results,
            "error": row.error or _NO_ERROR,
            "report_url": "",
            "created_at": row.created_at,
        }
    )
    if row.model is None:
        run.model = None  # type: ignore[assignment]
    if row.error is None:
        run.error = None  # type: ignore[assignment]
    return run


def output_item_object(cls: type[ItemT], row: EvalOutputItem) -> ItemT:
    """``{"object": "eval.run.output_item", "id", "run_id", "eval_id", "status",
    "datasource_item_id", "datasource_item", "results", "sample", "created_at"}`` as
    ``cls``."""
    nulls = [key for key in _SAMPLE_STAND_INS if row.sample.get(key) is None]
    item = cls.model_validate(
        {
            "object": "eval.run.output_item",
            "id": row.id,
            "run_id": row.run_id,
            "eval_id": row.eval_id,
            "status": row.status,
            "datasource_item_id": row.datasource_item_id,
            "datasource_item": row.datasource_item,
            "results": row.results,
            "sample": row.sample | {key: _SAMPLE_STAND_INS[key] for key in nulls},
            "created_at": row.created_at,
        }
    )
    for key in nulls:
        setattr(item.sample, key, None)
    return item
