"""Training files: JSONL parsing, validation with line numbers, and tokenization.

Follows OpenAI's fine-tuning data formats (API reference: Fine-tuning → "The training
format": chat ``{"messages", "tools"?, "parallel_tool_calls"?}`` lines for ``supervised``;
``{"input", "preferred_output", "non_preferred_output"}`` lines for ``dpo``).

Examples are tokenized here, by the server, with the base model's own chat template, Hearth's
tool-call format (``services/chat``) and llama.cpp's tokenizer, so training sees exactly the
tokens serving produces. An assistant turn is trained as its text (or ``<tool_call>``
blocks) plus the end-of-turn token, after the prompt serving would render for the
conversation before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json

from hearth.errors import InvalidRequest, invalid_request
from hearth.services.chat.params import Message, Tool
from hearth.services.chat.prepare import (
    ChatTokenizer,
    conversation_rows,
    prompt_tokens,
    with_instructions,
)
from hearth.services.chat.structured import tool_instructions

MAX_ERRORS = 5
"""Problems listed in one error message."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: dict[str, Any] | None = None


class _Function(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    arguments: str


class _ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: _Function


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_Part] | None = None
    name: str | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None
    weight: Literal[0, 1] | None = None
    refusal: str | None = None


class _ChatExample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[_Message] = Field(min_length=1)
    tools: list[Tool] | None = None
    parallel_tool_calls: bool | None = None


class _DpoInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[_Message] = Field(min_length=1)
    tools: list[Tool] | None = None
    parallel_tool_calls: bool | None = None


class _DpoExample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: _DpoInput
    preferred_output: list[_Message] = Field(min_length=1, max_length=1)
    non_preferred_output: list[_Message] = Field(min_length=1, max_length=1)


@dataclass
class Dataset:
    """Tokenized examples ready for the worker (``hearth.finetune``) and their size."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    """supervised: ``{"input_ids", "loss_mask"}``; dpo: ``{"prompt_ids", "chosen_ids",
    "rejected_ids"}``."""
    examples: int = 0
    tokens: int = 0
    """Tokens per epoch (every token the model reads)."""


class _Problems:
    def __init__(self, param: str, kind: str) -> None:
        self.param, self.kind = param, kind
        self.items: list[str] = []

    def add(self, line: int, text: str) -> None:
        self.items.append(f"Line {line}: {text}")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        more = len(self.items) - MAX_ERRORS
        listing = "; ".join(self.items[:MAX_ERRORS]) + (f"; and {more} more" if more > 0 else "")
        raise InvalidRequest(
            f"Invalid {self.kind} file: {listing}.",
            param=self.param,
            code=f"invalid_{self.kind.replace(' ', '_')}_file",
        )


def _problem(exc: ValidationError) -> str:
    """A line's first problem as the one converter words it, naming the field where its
    message does not."""
    error = invalid_request(exc)
    text = error.message.rstrip(".")
    return text if not error.param or f"'{error.param}'" in text else f"{error.param}: {text}"


def _has_images(messages: list[_Message]) -> bool:
    return any(
        isinstance(m.content, list) and any(p.type == "image_url" for p in m.content)
        for m in messages
    )


def _check_roles(messages: list[_Message], need_assistant: bool) -> str | None:
    if need_assistant and not any(m.role == "assistant" and m.weight != 0 for m in messages):
        return "the example must contain at least one assistant message to train on"
    for i, m in enumerate(messages):
        if m.role == "assistant" and m.content is None and not m.tool_calls:
            return f"messages[{i}] (assistant) needs content or tool_calls"
        if m.role != "assistant" and m.content is None:
            return f"messages[{i}].content is required"
        if isinstance(m.content, list) and any(
            p.type == "text" and p.text is None for p in m.content
        ):
            return f"messages[{i}].content: a text part needs 'text'"
    return None


class Tokenizer:
    """Renders and tokenizes examples with a served model's template and tokenizer."""

    def __init__(self, runner: ChatTokenizer, context_length: int) -> None:
        self._runner = runner
        self._context = context_length
        self._eos = runner.tokenize(runner.info.eos_token, special=True)

    def _prompt(self, messages: list[_Message], tools: list[Tool] | None) -> list[int]:
        rows = conversation_rows(
            [Message.model_validate(m.model_dump(exclude_none=True)) for m in messages]
        )
        instructions = tool_instructions(tools) if tools else None
        return prompt_tokens(self._runner, with_instructions(rows, instructions))

    def _answer(self, message: _Message) -> list[int]:
        row = conversation_rows(
            [Message.model_validate(message.model_dump(exclude_none=True, exclude={"weight"}))]
        )[0]
        return self._runner.tokenize(row["content"], special=False) + self._eos

    def chat(self, example: _ChatExample) -> dict[str, Any]:
        """``{"input_ids", "loss_mask"}``: every assistant turn with weight 1 is trained
        (turns whose rendering is not a prefix of the next prompt start a new row — rare)."""
        ids: list[int] = []
        mask: list[int] = []
        for k, m in enumerate(example.messages):
            if m.role != "assistant":
                continue
            prompt = self._prompt(example.messages[:k], example.tools)
            if prompt[: len(ids)] != ids:  # template re-rendered history differently
                ids, mask = [], []
            answer = self._answer(m)
            mask += [0] * (len(prompt) - len(ids)) + [0 if m.weight == 0 else 1] * len(answer)
            ids = prompt + answer
        return {"input_ids": ids, "loss_mask": mask}

    def dpo(self, example: _DpoExample) -> dict[str, Any]:
        """``{"prompt_ids", "chosen_ids", "rejected_ids"}``."""
        return {
            "prompt_ids": self._prompt(example.input.messages, example.input.tools),
            "chosen_ids": self._answer(example.preferred_output[0]),
            "rejected_ids": self._answer(example.non_preferred_output[0]),
        }

    @property
    def context_length(self) -> int:
        return self._context


def parse(
    data: bytes, method: str, tokenizer: Tokenizer, *, param: str, vision: bool, min_examples: int
) -> Dataset:
    """Validate and tokenize a training (or validation) file.

    ``method``: ``supervised`` or ``dpo``. ``param``: ``training_file`` or
    ``validation_file`` (named in errors). ``vision``: whether the base model accepts image
    parts. Raises ``InvalidRequest`` (400, ``code`` ``invalid_training_file`` /
    ``invalid_validation_file``) listing the first problems by line number: bad UTF-8 or
    JSON, a line that is not an object, unknown or missing keys, a conversation with no
    assistant turn, images for a text-only model, an example longer than the context, or
    fewer than ``min_examples`` examples.
    """
    kind = "training" if param == "training_file" else "validation"
    problems = _Problems(param, kind)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"Invalid {kind} file: it is not UTF-8 text (byte {exc.start}).",
            param=param,
            code=f"invalid_{kind}_file",
        ) from None
    dataset = Dataset()
    model: type[_DpoExample] | type[_ChatExample] = _DpoExample if method == "dpo" else _ChatExample
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:  # pydantic-core's parser: nesting capped (no RecursionError), NaN refused
            obj = from_json(line, allow_inf_nan=False)
        except ValueError as exc:
            problems.add(number, f"not valid JSON ({exc})")
            continue
        if not isinstance(obj, dict):
            problems.add(number, "expected a JSON object (one example per line)")
            continue
        try:
            example = model.model_validate(obj)
        except ValidationError as exc:
            problems.add(number, _problem(exc))
            continue
        messages = (
            example.input.messages + example.preferred_output + example.non_preferred_output
            if isinstance(example, _DpoExample)
            else example.messages
        )
        issue = (
            _check_roles(example.input.messages, False)
            if isinstance(example, _DpoExample)
            else _check_roles(messages, True)
        )
        if (
            isinstance(example, _DpoExample)
            and issue is None
            and any(
                m.role != "assistant"
                for m in example.preferred_output + example.non_preferred_output
            )
        ):
            issue = "preferred_output and non_preferred_output must be assistant messages"
        if issue:
            problems.add(number, issue)
            continue
        if _has_images(messages) and not vision:
            problems.add(
                number, "image inputs need a vision-capable base model; this model is text-only"
            )
            continue
        try:
            row = (
                tokenizer.dpo(example)
                if isinstance(example, _DpoExample)
                else tokenizer.chat(example)
            )
        except InvalidRequest as exc:
            problems.add(number, exc.message)
            continue
        size = (
            len(row["prompt_ids"]) + max(len(row["chosen_ids"]), len(row["rejected_ids"]))
            if method == "dpo"
            else len(row["input_ids"])
        )
        if size > tokenizer.context_length:
            problems.add(
                number,
                f"the example has {size} tokens, more than the context "
                f"length of {tokenizer.context_length}",
            )
            continue
        dataset.lines.append(row)
        dataset.examples += 1
        dataset.tokens += size
    problems.raise_if_any()
    if dataset.examples < min_examples:
        raise InvalidRequest(
            f"Invalid {kind} file: it has {dataset.examples} example(s), but must have at "
            f"least {min_examples} examples.",
            param=param,
            code=f"invalid_{kind}_file",
        )
    return dataset
