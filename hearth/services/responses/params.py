"""Request bodies of ``POST /v1/responses``, ``/v1/responses/input_tokens``,
``/v1/responses/compact`` and ``/v1/conversations`` (OpenAI API reference: Responses,
Conversations; the Open Responses specification).

Parsed strictly from the raw JSON. Unknown top-level fields are accepted and logged, so
newer SDKs keep working; unknown *item* and *tool* types are a 400, because silently
dropping part of a conversation would change the answer.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from hearth.retrieval.filters import ComparisonFilter, CompoundFilter
from hearth.services.chat.metadata import Metadata
from hearth.services.chat.params import MAX_TOOLS
from hearth.services.vector_stores.params import RankingOptions

log = logging.getLogger(__name__)

IGNORED = frozenset(
    (
        "prompt_cache_retention",
        "prompt_cache_options",
        "safety_identifier",
        "service_tier",
        "stream_options",
        "user",
        "context_management",
    )
)
"""Fields OpenAI accepts that Hearth accepts, echoes where the object has them, and
otherwise ignores (docs/responses.md)."""
_noted: set[str] = set()

INCLUDABLE = frozenset(
    (
        "file_search_call.results",
        "message.output_text.logprobs",
        "reasoning.encrypted_content",
        "code_interpreter_call.outputs",
        "web_search_call.action.sources",
        "web_search_call.results",
        "computer_call_output.output.image_url",
        "message.input_image.image_url",
    )
)
"""Values of ``include`` OpenAI defines; the first three change what Hearth returns,
the others name tools Hearth does not offer and change nothing."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionToolParam(_Body):
    """``{"type": "function", "name", "description", "parameters", "strict"}``."""

    type: Literal["function"]
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FileSearchToolParam(_Body):
    """``{"type": "file_search", "vector_store_ids", "filters", "max_num_results",
    "ranking_options"}``."""

    type: Literal["file_search"]
    vector_store_ids: list[StrictStr] = Field(min_length=1)
    filters: ComparisonFilter | CompoundFilter | None = None
    max_num_results: int = Field(default=10, ge=1, le=50)
    ranking_options: RankingOptions | None = None


class CodeInterpreterAuto(_Body):
    """``container`` of type ``auto``: a new container for the response (or the one its
    previous response used, while it runs), with ``file_ids`` copied in."""

    type: Literal["auto"]
    file_ids: list[StrictStr] | None = Field(default=None, max_length=100)
    memory_limit: Literal["1g", "4g", "16g", "64g"] | None = None
    network_policy: dict[str, Any] | None = None


class CodeInterpreterToolParam(_Body):
    """``{"type": "code_interpreter", "container": "cntr_..." | {"type": "auto", ...}}``
    (OpenAI API reference: Responses > Tools > Code interpreter)."""

    type: Literal["code_interpreter"]
    container: StrictStr | CodeInterpreterAuto


ToolParam = FunctionToolParam | FileSearchToolParam | CodeInterpreterToolParam


class JsonSchemaText(_Body):
    """``text.format`` of type ``json_schema`` (Structured Outputs)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: Literal["json_schema"]
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


class PlainText(_Body):
    """``text.format`` of type ``text`` or ``json_object`` (JSON mode)."""

    type: Literal["text", "json_object"]


class TextParam(_Body):
    """``text``: the answer's format and (ignored) ``verbosity``."""

    format: JsonSchemaText | PlainText | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningParam(_Body):
    """``reasoning``: ``effort`` and ``summary`` (models with a thinking format)."""

    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


class ConversationRef(_Body):
    """``conversation: {"id": ...}``."""

    id: StrictStr


class InputParams(_Body):
    """What every request that reads a context shares: ``model`` and what it is given."""

    model: StrictStr
    input: StrictStr | list[dict[str, Any]] | None = None
    instructions: StrictStr | None = None
    previous_response_id: StrictStr | None = None
    conversation: StrictStr | ConversationRef | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: StrictStr | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: TextParam | None = None
    reasoning: ReasoningParam | None = None
    truncation: Literal["auto", "disabled"] | None = None

    @property
    def conversation_id(self) -> str | None:
        """``conversation`` as an id (it may be sent as a string or an object)."""
        if isinstance(self.conversation, ConversationRef):
            return self.conversation.id
        return self.conversation

    @model_validator(mode="after")
    def _one_context(self) -> InputParams:
        if self.previous_response_id is not None and self.conversation is not None:
            raise ValueError(
                "previous_response_id and conversation cannot be used together; pick one"
            )
        return self


class CreateParams(InputParams):
    """Body of ``responses.create``; ranges as in the API reference. ``IGNORED`` and
    fields OpenAI does not define are accepted and logged once per process."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    max_output_tokens: int | None = Field(default=None, ge=16)
    max_tool_calls: int | None = Field(default=None, ge=1)
    metadata: Metadata = None
    store: bool | None = None
    background: bool | None = None
    stream: bool | None = None
    include: list[StrictStr] | None = None
    prompt_cache_key: StrictStr | None = None
    safety_identifier: StrictStr | None = None
    service_tier: StrictStr | None = None
    user: StrictStr | None = None
    prompt: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _log_ignored(self) -> CreateParams:
        sent = set(self.model_extra or ()) | {n for n in IGNORED if getattr(self, n, None)}
        new = sent - _noted
        _noted.update(new)
        if new:
            log.info("responses: ignoring fields %s", sorted(new))
        return self

    @property
    def stored(self) -> bool:
        """``store`` as applied: true unless sent false (OpenAI's default)."""
        return self.store is not False


class CountParams(InputParams):
    """Body of ``responses.input_tokens.count``."""


class CompactParams(_Body):
    """Body of ``responses.compact``: the context to compact."""

    model: StrictStr
    input: StrictStr | list[dict[str, Any]] | None = None
    instructions: StrictStr | None = None
    previous_response_id: StrictStr | None = None


class ConversationCreateParams(_Body):
    """Body of ``conversations.create``: initial ``items`` (at most 20) and ``metadata``."""

    items: list[dict[str, Any]] | None = Field(default=None, max_length=20)
    metadata: Metadata = None


class ConversationUpdateParams(_Body):
    """Body of ``conversations.update``: ``metadata`` (required)."""

    metadata: Metadata


class ItemsCreateParams(_Body):
    """Body of ``conversations.items.create``: ``items`` (1 to 20)."""

    items: list[dict[str, Any]] = Field(min_length=1, max_length=20)
