"""Samples: what a model answers for an item, in the shapes an eval run shows.

* ``input_messages`` (OpenAI API reference: Runs > ``CreateEvalCompletionsRunDataSource``)
  becomes chat messages: a ``template`` (``{{item.*}}`` rendered in every text; EvalItem
  parts become chat parts, ``templates.render_messages``) or an ``item_reference``
  (``"item.input"``: a message list, or a string sent as one user message).
* ``sampling_params`` (``temperature``, ``top_p``, ``max_completion_tokens``, ``seed``,
  ``response_format``, ``tools``) go to Chat Completions as they are.
* A ``ChatCompletion`` becomes the graders' ``sample`` namespace (``namespace``:
  ``output_text``, ``output_json``, ``output_tools``, ``choices``, ``model``) and the output
  item's ``sample`` (``output_sample``: ``input``, ``output``, ``finish_reason``, ``model``,
  ``usage``, ``error``, ``temperature``, ``max_completion_tokens``, ``top_p``, ``seed``).
* ``ChatJudge`` is the graders' ``Judge`` over the in-process chat service.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from openai.types.evals import CreateEvalCompletionsRunDataSource, CreateEvalJSONLRunDataSource
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from hearth.domain import Principal
from hearth.errors import HearthError, InvalidRequest, invalid_request
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.evals.data_sources import ALL_SOURCES, FILE_SOURCES, Source, by_type, parse
from hearth.services.evals.templates import (
    TemplateError,
    check,
    lookup,
    message_texts,
    render_messages,
)

# --- input_messages -------------------------------------------------------------------


class TemplateMessage(BaseModel):
    """A template message: ``EasyInputMessage`` or ``EvalItem`` (``type: "message"``)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["user", "assistant", "system", "developer"]
    content: str | dict[str, Any] | list[dict[str, Any]]
    type: Literal["message"] | None = None


class TemplateInput(BaseModel):
    """``{"type": "template", "template": [TemplateMessage]}``."""

    model_config = ConfigDict(extra="allow")

    type: Literal["template"]
    template: list[TemplateMessage] = Field(min_length=1)


class ItemReferenceInput(BaseModel):
    """``{"type": "item_reference", "item_reference": "item.<path>"}``."""

    model_config = ConfigDict(extra="allow")

    type: Literal["item_reference"]
    item_reference: str = Field(pattern=r"^item(\.[^.\s]+)+$")


InputMessages = TemplateInput | ItemReferenceInput
_RETURNED: dict[str, type[BaseModel]] = {
    "jsonl": CreateEvalJSONLRunDataSource,
    "completions": CreateEvalCompletionsRunDataSource,
}
"""The SDK's type of a run's ``data_source`` as a run returns it."""
INPUT_TYPES: dict[str, type[Any]] = {
    "template": TemplateInput,
    "item_reference": ItemReferenceInput,
}
_PART_TYPES = ("input_text", "output_text", "input_image", "input_audio")


def check_template(messages: TemplateInput, param: str) -> None:
    """``InvalidRequest`` for a malformed ``{{...}}`` or one outside the ``item``
    namespace (a template renders before any sample exists)."""
    for i, message in enumerate(messages.template):
        content = message.content
        for j, part in enumerate(content if isinstance(content, list) else [content]):
            if isinstance(part, dict) and part.get("type") not in _PART_TYPES:
                where = f"{param}.template[{i}].content" + (
                    f"[{j}]" if isinstance(content, list) else ""
                )
                raise InvalidRequest(
                    f"Invalid '{where}.type': {part.get('type')!r}. Supported "
                    "values are: " + ", ".join(f"'{t}'" for t in _PART_TYPES) + ".",
                    param=f"{where}.type",
                    code="invalid_value",
                )
        for where, text in message_texts(message.model_dump()):
            check(text, f"{param}.template[{i}].{where}", roots=("item",))


def build_messages(spec: InputMessages, item: dict[str, Any]) -> list[dict[str, Any]]:
    """Chat messages for one item. Raises ``TemplateError`` for a path the item lacks
    and ``InvalidRequest`` when an ``item_reference`` names neither a message list (used
    as it is) nor a string (sent as one user message)."""
    context = {"item": item}
    if isinstance(spec, TemplateInput):
        return render_messages([m.model_dump(exclude_none=True) for m in spec.template], context)
    value = lookup(context, spec.item_reference)
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not (
        isinstance(value, list)
        and value
        and all(isinstance(m, dict) and "role" in m for m in value)
    ):
        raise InvalidRequest(
            f"'{spec.item_reference}' is not a list of messages (objects "
            "with 'role' and 'content') or a string.",
            param="data_source.input_messages.item_reference",
        )
    return [dict(m) for m in value]


# --- sampling_params --------------------------------------------------------------------


class SamplingParams(BaseModel):
    """``sampling_params``; ``reasoning_effort`` is a thinking model's budget, as in Chat
    Completions (other models ignore it)."""

    model_config = ConfigDict(extra="allow")

    temperature: float | None = None
    top_p: float | None = None
    max_completion_tokens: int | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    reasoning_effort: str | None = None


_SENT = (
    "temperature",
    "top_p",
    "max_completion_tokens",
    "seed",
    "response_format",
    "tools",
    "reasoning_effort",
)


def check_sampling(raw: Any, model: str, param: str) -> SamplingParams:
    """``sampling_params`` checked as Chat Completions would check them (ranges, the
    shape of ``response_format`` and ``tools``); ``InvalidRequest`` under ``param``."""
    sampling = parse(SamplingParams, raw or {}, param)
    chat_params(model, [{"role": "user", "content": "."}], sampling, param)
    return sampling


def chat_params(
    model: str, messages: list[dict[str, Any]], sampling: SamplingParams, param: str = ""
) -> ChatCompletionParams:
    """The Chat Completions request for one sample (never stored). Raises
    ``InvalidRequest`` (``param``: the field's path under ``param``) for messages or
    sampling parameters Chat Completions would refuse."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    for key in _SENT:
        if getattr(sampling, key) is not None:
            body[key] = getattr(sampling, key)
    return _chat_params(body, param)


def _chat_params(body: dict[str, Any], param: str) -> ChatCompletionParams:
    try:
        return ChatCompletionParams.model_validate(body)
    except PydanticError as exc:
        raise invalid_request(exc, param) from None


# --- a run's data_source ------------------------------------------------------------------


class JsonlDataSource(BaseModel):
    """``{"type": "jsonl", "source"}``: rows graded with the samples they bring."""

    model_config = ConfigDict(extra="allow")

    type: Literal["jsonl"]
    source: dict[str, Any]


class CompletionsDataSource(BaseModel):
    """``{"type": "completions", "source", "input_messages"?, "model"?,
    "sampling_params"?}``: a model answers each row (without ``model``, rows are graded
    with the samples they bring, a stored completion with its stored answer)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["completions"]
    source: dict[str, Any]
    input_messages: dict[str, Any] | None = None
    model: str | None = None
    sampling_params: dict[str, Any] | None = None


@dataclass
class RunPlan:
    """A run's ``data_source``, parsed: where rows come from and how samples are made
    (``model`` None: no generation)."""

    source: Source
    model: str | None = None
    input_messages: InputMessages | None = None
    sampling: SamplingParams | None = None


def run_plan(raw: Any) -> RunPlan:
    """Parse and check a run's ``data_source`` (no I/O: files and models are checked by
    the caller). Raises ``InvalidRequest`` with ``param`` under ``data_source``."""
    param = "data_source"
    spec = by_type({"jsonl": JsonlDataSource, "completions": CompletionsDataSource}, raw, param)
    if isinstance(spec, JsonlDataSource):
        plan = RunPlan(by_type(FILE_SOURCES, spec.source, f"{param}.source"))
    else:
        plan = _completions_plan(spec, param)
    try:  # what is stored is returned as the run's data_source
        _RETURNED[spec.type].model_validate(raw)
    except PydanticError as exc:
        raise invalid_request(exc, param) from None
    return plan


def _completions_plan(spec: CompletionsDataSource, param: str) -> RunPlan:
    source = by_type(ALL_SOURCES, spec.source, f"{param}.source")
    messages: InputMessages | None = None
    if spec.input_messages is not None:
        messages = by_type(INPUT_TYPES, spec.input_messages, f"{param}.input_messages")
        if isinstance(messages, TemplateInput):
            check_template(messages, f"{param}.input_messages")
    if spec.model is None:
        if messages is not None:
            raise InvalidRequest(
                f"Missing required parameter: '{param}.model' (input_messages "
                "are sent to a model).",
                param=f"{param}.model",
            )
        return RunPlan(source)
    if messages is None:
        if source.type != "stored_completions":
            raise InvalidRequest(
                f"Missing required parameter: '{param}.input_messages'.",
                param=f"{param}.input_messages",
            )
        messages = ItemReferenceInput(type="item_reference", item_reference="item.input")
    sampling = check_sampling(spec.sampling_params, spec.model, f"{param}.sampling_params")
    return RunPlan(source, spec.model, messages, sampling)


# --- samples -------------------------------------------------------------------------------

ZERO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0}


def usage_of(completion: dict[str, Any]) -> dict[str, int]:
    """``{prompt_tokens, completion_tokens, total_tokens, cached_tokens}`` of a
    ``ChatCompletion`` dict."""
    usage = completion.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return {
        "prompt_tokens": usage.get("prompt_tokens", 0),
        "completion_tokens": usage.get("completion_tokens", 0),
        "total_tokens": usage.get("total_tokens", 0),
        "cached_tokens": details.get("cached_tokens") or 0,
    }


def namespace(
    completion: dict[str, Any],
    response_format: dict[str, Any] | None,
) -> dict[str, Any]:
    """The graders' ``sample``: ``model``, ``choices``, ``output_text`` (first choice's
    text), ``output_tools`` (its tool calls) and, with a JSON ``response_format``,
    ``output_json`` (the text parsed; null if it does not parse)."""
    choices = completion.get("choices") or []
    message = (choices[0].get("message") or {}) if choices else {}
    text = message.get("content") or ""
    out = {
        "model": completion.get("model", ""),
        "choices": choices,
        "output_text": text,
        "output_tools": message.get("tool_calls") or [],
        "usage": usage_of(completion),
    }
    if (response_format or {}).get("type") in ("json_object", "json_schema"):
        try:
            out["output_json"] = json.loads(text)
        except (ValueError, RecursionError):  # the model's text: may nest past the stack
            out["output_json"] = None
    return out


def output_sample(
    messages: list[dict[str, Any]],
    completion: dict[str, Any] | None,
    sampling: dict[str, Any],
    *,
    model: str,
    error: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An output item's ``sample`` for a generated (or stored) completion, or for a
    generation that failed with ``error`` (``{"code", "message"}``). ``sampling``: the
    request's parameters; unset ones show OpenAI's defaults (temperature and top_p 1)."""
    output, finish, usage = [], "", dict(ZERO_USAGE)
    if completion is not None:
        choices = completion.get("choices") or [{}]
        message = choices[0].get("message") or {}
        entry: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            entry["tool_calls"] = message["tool_calls"]
        output, finish = [entry], choices[0].get("finish_reason") or ""
        usage, model = usage_of(completion), completion.get("model", model)
    return {
        "input": [_flat(m) for m in messages],
        "output": output,
        "finish_reason": finish,
        "model": model,
        "usage": usage,
        "error": error,
        "temperature": _given(sampling, "temperature", 1.0),
        "max_completion_tokens": sampling.get("max_completion_tokens", sampling.get("max_tokens")),
        "top_p": _given(sampling, "top_p", 1.0),
        "seed": sampling.get("seed"),
    }


def given_sample(sample: dict[str, Any] | None) -> dict[str, Any]:
    """An output item's ``sample`` for a row that brought its own (no model called), in
    the output item's shape whatever the row's sample holds: messages as ``{"role",
    "content"}`` (text), numbers only where numbers go (else null / 0)."""
    sample = sample or {}
    output = sample.get("output")
    if isinstance(output, list):
        output = [_flat(m) for m in output if isinstance(m, dict)]
    else:
        text = sample.get("output_text")
        output = [{"role": "assistant", "content": text}] if isinstance(text, str) else []
    given_input = sample.get("input")
    given_usage = sample.get("usage")
    usage: dict[str, Any] = given_usage if isinstance(given_usage, dict) else {}
    return {
        "input": [_flat(m) for m in given_input if isinstance(m, dict)]
        if isinstance(given_input, list)
        else [],
        "output": output,
        "finish_reason": _text(sample.get("finish_reason")),
        "model": _text(sample.get("model")),
        "usage": {key: _number(usage.get(key), int) or 0 for key in ZERO_USAGE},
        "error": None,
        "temperature": _number(sample.get("temperature"), float),
        "max_completion_tokens": _number(sample.get("max_completion_tokens"), int),
        "top_p": _number(sample.get("top_p"), float),
        "seed": _number(sample.get("seed"), int),
    }


def error_of(exc: Exception) -> dict[str, str]:
    """``{"code", "message"}`` for a failed generation or grader."""
    if isinstance(exc, HearthError):
        return {"code": exc.code or exc.error_type, "message": exc.message}
    if isinstance(exc, TemplateError):
        return {"code": "invalid_template", "message": str(exc)}
    return {"code": "server_error", "message": str(exc) or type(exc).__name__}


def _flat(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(_text(p.get("text")) for p in content if isinstance(p, dict))
    elif content is not None and not isinstance(content, str):
        content = json.dumps(content)
    out = {"role": _text(message.get("role")), "content": content if content is not None else ""}
    for key in ("tool_calls", "tool_call_id"):
        if message.get(key) is not None:
            out[key] = message[key]
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    """``value`` as ``kind`` if it is a finite number (an int where ``kind`` is int), else
    None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if kind is int and not float(value).is_integer():
        return None
    return kind(value)


def _given(values: dict[str, Any], key: str, default: Any) -> Any:
    value = values.get(key)
    return default if value is None else value


# --- usage and the judge ------------------------------------------------------------------


def add_usage(book: dict[str, dict[str, int]], model: str, usage: dict[str, int]) -> None:
    """Count one call of ``model`` with ``usage`` into ``book`` (model -> totals)."""
    entry = book.setdefault(model, {"invocation_count": 0, **ZERO_USAGE})
    entry["invocation_count"] += 1
    for key in ZERO_USAGE:
        entry[key] += int(usage.get(key, 0) or 0)


def merge_usage(book: dict[str, dict[str, int]], other: dict[str, dict[str, int]]) -> None:
    """Add ``other``'s per-model totals (``add_usage``'s shape) into ``book``."""
    for model, totals in other.items():
        entry = book.setdefault(model, {"invocation_count": 0, **ZERO_USAGE})
        for key, value in totals.items():
            entry[key] = entry.get(key, 0) + value


class ChatJudge:
    """The graders' ``Judge`` (``label_model`` / ``score_model``) over ``ChatCompletions``
    in process; ``usage`` collects every call's tokens per model."""

    def __init__(self, chat: ChatCompletions, caller: Principal) -> None:
        self._chat = chat
        self._caller = caller
        self.usage: dict[str, dict[str, int]] = {}

    async def __call__(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None,
        sampling: dict[str, Any],
    ) -> tuple[str, dict[str, Any]]:
        """The judge's answer text and usage. ``sampling``: ``temperature``, ``top_p``,
        ``seed``, ``max_completion_tokens`` (or the spec's ``max_completions_tokens``)."""
        body: dict[str, Any] = {"model": model, "messages": messages}
        for key in ("temperature", "top_p", "seed"):
            if sampling.get(key) is not None:
                body[key] = sampling[key]
        limit = sampling.get("max_completion_tokens") or sampling.get("max_completions_tokens")
        if limit is not None:
            body["max_completion_tokens"] = limit
        if response_format is not None:
            body["response_format"] = response_format
        completion = (await self._chat.create(self._caller, _chat_params(body, ""))).model_dump(
            mode="json"
        )
        usage = usage_of(completion)
        add_usage(self.usage, completion.get("model", model), usage)
        return namespace(completion, None)["output_text"], usage
