"""Eval testing criteria: grading one sample (docs/graders.md).

OpenAI API reference: Evals > Create eval (``testing_criteria``) and Graders. Types:
``string_check``, ``text_similarity``, ``label_model``, ``score_model`` and ``multi``;
``python`` is refused (Hearth runs no user code). Criteria are validated once, when the
eval is created (``validate_criteria``, from ``criteria.py``); a problem that depends
on one sample's data (a template path it lacks, a judge answer that is not valid) is an
error result for that sample (``GraderResult.error``), never an exception out of
``grade``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from hearth.errors import HearthError
from hearth.services.evals import formula, metrics
from hearth.services.evals.criteria import TYPES, judge_models, sub_graders, validate_criteria
from hearth.services.evals.templates import TemplateError, render, render_messages

__all__ = ["TYPES", "GraderResult", "Judge", "grade", "judge_models", "validate_criteria"]

log = logging.getLogger(__name__)


class Judge(Protocol):
    """The model behind ``label_model`` / ``score_model``: one chat completion.

    ``messages`` are Chat Completions messages; ``response_format`` is a strict
    ``json_schema`` format; ``sampling`` holds Chat Completions keys (``temperature``,
    ``top_p``, ``seed``, ``max_completion_tokens``), only those set. Returns the first
    choice's text and the completion's ``usage`` dict. May raise ``HearthError``.
    """

    async def __call__(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None,
        sampling: dict[str, Any],
    ) -> tuple[str, dict[str, Any]]: ...


@dataclass(frozen=True)
class GraderResult:
    """One criterion's verdict on one sample.

    ``name`` is the criterion's ``id`` (``"<name>-<uuid>"``, as OpenAI's output items
    show it; a ``multi``'s sub-grader uses its name). ``sample`` is the judge's exchange
    (``label_model`` / ``score_model``) or the sub-results (``multi``), else None.
    ``error`` is set (score 0, not passed) when the sample could not be graded.
    ``usage`` is ``{model: {invocation_count, prompt_tokens, completion_tokens,
    total_tokens, cached_tokens}}`` for judge calls, else None.
    """

    name: str
    type: str
    score: float
    passed: bool
    sample: dict[str, Any] | None = None
    error: str | None = None
    usage: dict[str, dict[str, int]] | None = None

    def result_dict(self) -> dict[str, Any]:
        """The output item's ``results[]`` entry: ``{name, type, score, passed, sample}``
        plus ``error: {code, message}`` for an errored grade."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "score": self.score,
            "passed": self.passed,
            "sample": self.sample,
        }
        if self.error is not None:
            out["error"] = {"code": "grader_error", "message": self.error}
        return out


class _Failed(Exception):
    """A grade that could not be given; ``sample`` / ``usage`` still report the work."""

    def __init__(
        self,
        message: str,
        sample: dict[str, Any] | None = None,
        usage: dict[str, dict[str, int]] | None = None,
    ) -> None:
        super().__init__(message)
        self.sample = sample
        self.usage = usage


async def grade(
    criterion: dict[str, Any], item: dict[str, Any], sample: dict[str, Any] | None, judge: Judge
) -> GraderResult:
    """Grade one sample by one validated criterion (``validate_criteria``'s output).

    Templates see ``{"item": item, "sample": sample}``. Metrics run on a worker thread;
    ``label_model`` / ``score_model`` call ``judge``. Never raises for a problem with
    this sample's data or the judge's answer: that is a result with ``error`` set.
    """
    context = {"item": item, "sample": sample if sample is not None else {}}
    return await _grade(criterion, criterion.get("id") or criterion["name"], context, judge)


async def _grade(
    criterion: dict[str, Any], name: str, context: dict[str, Any], judge: Judge
) -> GraderResult:
    kind = criterion["type"]
    try:
        if kind == "string_check":
            score = _string_check(criterion, context)
            return GraderResult(name, kind, score, score == 1.0)
        if kind == "text_similarity":
            score = await _similarity(criterion, context)
            passed = score >= criterion.get("pass_threshold", 0.5)
            return GraderResult(name, kind, score, passed)
        if kind == "label_model":
            return await _label(criterion, name, context, judge)
        if kind == "score_model":
            return await _score(criterion, name, context, judge)
        if kind == "multi":
            return await _multi(criterion, name, context, judge)
        raise _Failed(f"Unknown grader type {kind!r}.")
    except (TemplateError, formula.FormulaError) as exc:
        return GraderResult(name, kind, 0.0, False, error=str(exc))
    except _Failed as exc:
        return GraderResult(
            name, kind, 0.0, False, sample=exc.sample, error=str(exc), usage=exc.usage
        )


def _string_check(criterion: dict[str, Any], context: dict[str, Any]) -> float:
    text = render(criterion["input"], context)
    reference = render(criterion["reference"], context)
    operation = criterion["operation"]
    if operation == "eq":
        hit = text == reference
    elif operation == "ne":
        hit = text != reference
    elif operation == "like":
        hit = reference in text
    else:  # ilike
        hit = reference.casefold() in text.casefold()
    return 1.0 if hit else 0.0


async def _similarity(criterion: dict[str, Any], context: dict[str, Any]) -> float:
    text = render(criterion["input"], context)
    reference = render(criterion["reference"], context)
    metric = criterion["evaluation_metric"]
    try:
        return await asyncio.to_thread(metrics.score, metric, text, reference)
    except metrics.MetricUnavailable as exc:
        raise _Failed(str(exc)) from None
    except Exception as exc:  # a library failing on odd text fails this sample only
        log.exception("text_similarity %s failed", metric)
        raise _Failed(f"The {metric} metric failed on this sample: {exc}") from None


def _usage(model: str, usage: dict[str, Any]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    usage = usage or {}
    details = usage.get("prompt_tokens_details") or {}
    counts = {
        "prompt_tokens": int(usage.get("prompt_tokens") or 0),
        "completion_tokens": int(usage.get("completion_tokens") or 0),
        "total_tokens": int(usage.get("total_tokens") or 0),
        "cached_tokens": int(usage.get("cached_tokens") or details.get("cached_tokens") or 0),
    }
    return counts, {model: {"invocation_count": 1, **counts}}


async def _ask(
    criterion: dict[str, Any],
    context: dict[str, Any],
    judge: Judge,
    schema: dict[str, Any],
    key: str,
    sampling: dict[str, Any],
) -> tuple[Any, dict[str, Any], dict[str, dict[str, int]]]:
    """The judge's ``key`` value under ``schema``, its exchange (result ``sample``), usage."""
    messages = render_messages(criterion["input"], context)
    model = criterion["model"]
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": f"{criterion['type']}_result", "strict": True, "schema": schema},
    }
    try:
        text, raw_usage = await judge(
            model, messages, response_format=response_format, sampling=sampling
        )
    except HearthError as exc:
        raise _Failed(f"The grader model {model!r} failed: {exc.message}") from None
    counts, usage = _usage(model, raw_usage)
    exchange = {
        "input": messages,
        "output": [{"role": "assistant", "content": text}],
        "model": model,
        "usage": counts,
        **sampling,
    }
    try:
        answer = json.loads(text)
        value = answer[key]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise _Failed(
            f"The grader model's answer is not a JSON object with {key!r}: {text[:200]!r}",
            exchange,
            usage,
        ) from None
    return value, exchange, usage


async def _label(
    criterion: dict[str, Any], name: str, context: dict[str, Any], judge: Judge
) -> GraderResult:
    labels = criterion["labels"]
    schema = {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": labels}},
        "required": ["label"],
        "additionalProperties": False,
    }
    label, exchange, usage = await _ask(criterion, context, judge, schema, "label", {})
    if label not in labels:
        raise _Failed(
            f"The grader model answered {label!r}, not one of the labels.", exchange, usage
        )
    passed = label in criterion["passing_labels"]
    return GraderResult(
        name, criterion["type"], 1.0 if passed else 0.0, passed, sample=exchange, usage=usage
    )


async def _score(
    criterion: dict[str, Any], name: str, context: dict[str, Any], judge: Judge
) -> GraderResult:
    low, high = criterion.get("range") or (0.0, 1.0)
    schema = {
        "type": "object",
        "properties": {"result": {"type": "number", "minimum": low, "maximum": high}},
        "required": ["result"],
        "additionalProperties": False,
    }
    params = criterion.get("sampling_params") or {}
    sampling = {k: params[k] for k in ("temperature", "top_p", "seed") if k in params}
    limit = params.get("max_completions_tokens", params.get("max_completion_tokens"))
    if limit is not None:
        sampling["max_completion_tokens"] = limit
    result, exchange, usage = await _ask(criterion, context, judge, schema, "result", sampling)
    if (
        isinstance(result, bool)
        or not isinstance(result, int | float)
        or not (low <= result <= high)
    ):
        raise _Failed(
            f"The grader model's score {result!r} is not a number in [{low}, {high}].",
            exchange,
            usage,
        )
    threshold = criterion.get("pass_threshold", (low + high) / 2)
    return GraderResult(
        name, criterion["type"], float(result), result >= threshold, sample=exchange, usage=usage
    )


async def _multi(
    criterion: dict[str, Any], name: str, context: dict[str, Any], judge: Judge
) -> GraderResult:
    subs = sub_graders(criterion["graders"])
    results = await asyncio.gather(
        *(_grade(g, names[0] if names else g["name"], context, judge) for names, g in subs)
    )
    usage: dict[str, dict[str, int]] = {}
    for result in results:
        for model, counts in (result.usage or {}).items():
            into = usage.setdefault(model, dict.fromkeys(counts, 0))
            for key, n in counts.items():
                into[key] += n
    detail = {"graders": {r.name: r.result_dict() for r in results}}
    failed = [r for r in results if r.error is not None]
    if failed:
        raise _Failed(
            f"Sub-grader {failed[0].name!r} failed: {failed[0].error}", detail, usage or None
        )
    scores = {n: r.score for (names, _), r in zip(subs, results, strict=True) for n in names}
    try:
        score = formula.evaluate(criterion["calculate_output"], scores)
    except formula.FormulaError as exc:
        raise _Failed(str(exc), detail, usage or None) from None
    return GraderResult(
        name,
        criterion["type"],
        score,
        score >= criterion.get("pass_threshold", 0.5),
        sample=detail,
        usage=usage or None,
    )
