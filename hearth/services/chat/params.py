"""Request body of ``POST /v1/chat/completions`` (OpenAI API reference: Chat > Create).

Parsed strictly from the raw JSON (no string-to-number coercion, as OpenAI). Unknown
fields are accepted and logged, so newer SDKs keep working.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hearth.services.chat.metadata import Metadata
from hearth.services.chat.reasoning import Effort

log = logging.getLogger(__name__)

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
MAX_TOOLS = 128
"""OpenAI's cap on ``tools`` (and ``functions``): more is a 400 ``array_above_max_length``."""


IGNORED = frozenset(
    (
        "audio",
        "modalities",
        "moderation",
        "prediction",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "safety_identifier",
        "user",
        "verbosity",
        "web_search_options",
    )
)
"""Parameters OpenAI accepts that Hearth accepts and ignores (docs/chat-completions.md)."""
_noted: set[str] = set()


def note_ignored(names: set[str]) -> None:
    """Log each ignored field once per process (INFO): OpenAI parameters Hearth does not
    implement, and fields OpenAI does not define (accepted, so newer SDKs keep working)."""
    new = names - _noted
    _noted.update(new)
    known = sorted(new & IGNORED)
    unknown = sorted(new - IGNORED)
    if known:
        log.info("chat.completions: ignoring parameters Hearth does not implement %s", known)
    if unknown:
        log.info("chat.completions: ignoring unknown fields %s", unknown)


class FunctionCall(BaseModel):
    """``tool_calls[].function`` in an assistant message: ``arguments`` is JSON text."""

    model_config = ConfigDict(extra="allow")

    name: str
    arguments: str


class ToolCall(BaseModel):
    """A tool call the assistant made earlier in the conversation."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    """One chat message; ``content`` is a string or an array of content parts.

    Assistant messages may carry ``tool_calls`` or the legacy ``function_call`` (then
    ``content`` may be null); ``tool`` messages answer one of the calls by
    ``tool_call_id``, legacy ``function`` messages a ``function_call`` by ``name``.
    """

    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    function_call: FunctionCall | None = None


class FunctionDefinition(BaseModel):
    """``tools[].function``: ``parameters`` is a JSON Schema; ``strict`` enforces it."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(BaseModel):
    """One entry of ``tools``; only ``function`` tools exist in Chat Completions."""

    model_config = ConfigDict(extra="allow")

    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(BaseModel):
    """``{"name": ...}``: a function forced by ``tool_choice`` or ``function_call``."""

    name: str


class NamedToolChoice(BaseModel):
    """``tool_choice: {"type": "function", "function": {"name": ...}}``."""

    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(BaseModel):
    """``response_format.json_schema`` (OpenAI: Structured Outputs)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    """``response_format``: text, JSON mode, or a JSON Schema."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(BaseModel):
    """``stream_options``: ``include_usage`` adds a final chunk carrying ``usage``."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool | None = None


class GenerationParams(BaseModel):
    """The sampling and streaming fields Chat Completions and (legacy) Completions share;
    ranges as in the API reference."""

    model_config = ConfigDict(extra="allow")

    model: str
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=128)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    seed: int | None = None
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("stop accepts at most 4 sequences")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _bias_range(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for key, bias in (value or {}).items():
            if not key.isdigit():
                raise ValueError(f"logit_bias keys must be token ids, got {key!r}")
            if not -100 <= bias <= 100:
                raise ValueError(f"logit_bias values must be in [-100, 100], got {bias}")
        return value

    def stop_sequences(self) -> tuple[str, ...]:
        """``stop`` as a tuple (empty when absent)."""
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())


class ChatCompletionParams(GenerationParams):
    """The fields Hearth reads; ranges as in the API reference. ``IGNORED`` parameters and
    fields OpenAI does not define are accepted, ignored and logged once per process (INFO,
    by name only)."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _log_ignored(self) -> ChatCompletionParams:
        sent = set(self.model_extra or ()) | {n for n in IGNORED if getattr(self, n, None)}
        note_ignored(sent)
        return self

    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    metadata: Metadata = None
    """Tags kept with a stored completion; validated even when ``store`` is false."""
    store: bool | None = None
    """Persist the request and the returned completion (``services/chat/stored.py``)."""
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDefinition] | None = Field(default=None, max_length=MAX_TOOLS)
    """Deprecated ``functions``: answered with ``message.function_call`` (one call)."""
    function_call: Literal["none", "auto"] | NamedFunction | None = None
    """Deprecated ``function_call``: ``none``, ``auto`` or ``{"name": ...}``."""
    service_tier: Literal["auto", "default", "flex", "scale", "priority", "fast"] | None = None
    """Echoed in the response as the tier that served it (always ``default`` here)."""
    reasoning_effort: Effort | None = None
    """A thinking model's thinking budget (``services/chat/reasoning.py``); no effect on
    other models."""
