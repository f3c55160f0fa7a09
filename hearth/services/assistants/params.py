"""Request bodies of the Assistants API's assistants, threads and messages (OpenAI API
reference: Assistants; the document's ``CreateAssistantRequest``,
``ModifyAssistantRequest``, ``CreateThreadRequest``, ``ModifyThreadRequest``,
``CreateMessageRequest``, ``ModifyMessageRequest``).

Parsed strictly from the raw JSON; unknown fields are a 400 (the document closes every
one of these objects). Union fields are tagged (capitalised tags, which
``hearth.errors.json_path`` leaves out of an error's ``param``), so a bad value is named
by its own path (``tools[2].function.name``) rather than by every member it failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictStr,
    Tag,
    model_validator,
)

from hearth.services.chat.metadata import Metadata
from hearth.services.chat.params import MAX_TOOLS
from hearth.services.vector_stores.params import ChunkingStrategy

MAX_CODE_FILES = 20
"""Files the ``code_interpreter`` tool of one assistant or thread may have."""
MAX_THREAD_MESSAGES = 32
"""Messages ``threads.create`` may start a thread with."""
NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
"""A function's or a JSON Schema response format's ``name``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _tagger(tags: dict[str, str]) -> Callable[[Any], str | None]:
    """A discriminator reading ``type`` (of a dict, or a model already built) as one of
    ``tags``' capitalised tags; None (the custom error) for anything else."""

    def tag(value: Any) -> str | None:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return tags.get(kind) if isinstance(kind, str) else None

    return tag


# --- tools ------------------------------------------------------------------------------


class CodeInterpreterTool(_Strict):
    """``{"type": "code_interpreter"}``."""

    type: Literal["code_interpreter"]


class RankingOptions(_Strict):
    """``file_search.ranking_options``: results scoring below ``score_threshold`` are
    dropped."""

    score_threshold: float = Field(ge=0, le=1)
    ranker: Literal["auto", "default_2024_08_21"] | None = None


class FileSearchOptions(_Strict):
    """``file_search``: overrides of the tool's defaults."""

    max_num_results: int | None = Field(default=None, ge=1, le=50)
    ranking_options: RankingOptions | None = None


class FileSearchTool(_Strict):
    """``{"type": "file_search", "file_search": {...}}``: searches the vector stores of
    the assistant's and the thread's ``tool_resources``."""

    type: Literal["file_search"]
    file_search: FileSearchOptions | None = None


class FunctionObject(_Strict):
    """``function``: ``parameters`` is a JSON Schema (checked by the service)."""

    name: StrictStr = Field(pattern=NAME_PATTERN)
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class FunctionTool(_Strict):
    """``{"type": "function", "function": {...}}``."""

    type: Literal["function"]
    function: FunctionObject


Tool = Annotated[
    Annotated[CodeInterpreterTool, Tag("CodeInterpreter")]
    | Annotated[FileSearchTool, Tag("FileSearch")]
    | Annotated[FunctionTool, Tag("Function")],
    Discriminator(
        _tagger(
            {
                "code_interpreter": "CodeInterpreter",
                "file_search": "FileSearch",
                "function": "Function",
            }
        ),
        custom_error_type="invalid_tool",
        custom_error_message=(
            "a tool's type must be 'code_interpreter', 'file_search' or 'function'"
        ),
    ),
]


# --- response_format --------------------------------------------------------------------


class JsonSchemaSpec(_Strict):
    """``response_format.json_schema``: ``schema`` is a JSON Schema (checked by the
    service)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: StrictStr = Field(pattern=NAME_PATTERN)
    description: StrictStr | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: StrictBool | None = None


class PlainFormat(_Strict):
    """``{"type": "text"}`` or ``{"type": "json_object"}`` (JSON mode)."""

    type: Literal["text", "json_object"]


class JsonSchemaFormat(_Strict):
    """``{"type": "json_schema", "json_schema": {...}}`` (Structured Outputs)."""

    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


_FORMAT_TAGS = _tagger({"text": "Plain", "json_object": "Plain", "json_schema": "Schema"})


def _format_tag(value: Any) -> str | None:
    if value == "auto":
        return "Auto"
    return _FORMAT_TAGS(value)


ResponseFormat = Annotated[
    Annotated[Literal["auto"], Tag("Auto")]
    | Annotated[PlainFormat, Tag("Plain")]
    | Annotated[JsonSchemaFormat, Tag("Schema")],
    Discriminator(
        _format_tag,
        custom_error_type="invalid_response_format",
        custom_error_message=(
            "response_format must be 'auto' or an object of type 'text', 'json_object' "
            "or 'json_schema'"
        ),
    ),
]

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


# --- tool_resources ---------------------------------------------------------------------


class CodeInterpreterResources(_Strict):
    """``tool_resources.code_interpreter``: files the tool's container starts with."""

    file_ids: list[StrictStr] | None = Field(default=None, max_length=MAX_CODE_FILES)


class FileSearchResources(_Strict):
    """``tool_resources.file_search``: the (one) vector store it searches."""

    vector_store_ids: list[StrictStr] | None = Field(default=None, max_length=1)


class NewVectorStore(_Strict):
    """``tool_resources.file_search.vector_stores[0]``: a vector store to make from
    files (as ``vector_stores.create`` would)."""

    file_ids: list[StrictStr] | None = Field(default=None, max_length=500)
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata = None


class NewFileSearchResources(FileSearchResources):
    """``tool_resources.file_search`` on create: a vector store by id, or one to make."""

    vector_stores: list[NewVectorStore] | None = Field(default=None, max_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> NewFileSearchResources:
        if self.vector_store_ids is not None and self.vector_stores is not None:
            raise ValueError("send either 'vector_store_ids' or 'vector_stores', not both")
        return self


class ToolResources(_Strict):
    """``tool_resources`` on update: ids only."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class NewToolResources(ToolResources):
    """``tool_resources`` on create: ``file_search`` may make a vector store."""

    file_search: NewFileSearchResources | None = None


# --- GPT actions (a Hearth extension) ---------------------------------------------------

MAX_ACTIONS = 10
"""OpenAPI specs (actions) one assistant may have."""


class NoAuth(_Strict):
    """``{"type": "none"}``: the API needs no credentials."""

    type: Literal["none"]


class ApiKeyAuth(_Strict):
    """``{"type": "api_key", "api_key": "...", "header": "X-API-Key"}``: the key is sent
    in that header (``X-API-Key`` when not named)."""

    type: Literal["api_key"]
    api_key: StrictStr = Field(min_length=1, max_length=4096)
    header: StrictStr | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,128}$")


class BearerAuth(_Strict):
    """``{"type": "bearer", "token": "..."}``: ``Authorization: Bearer <token>``."""

    type: Literal["bearer"]
    token: StrictStr = Field(min_length=1, max_length=4096)


ActionAuth = Annotated[
    Annotated[NoAuth, Tag("None")]
    | Annotated[ApiKeyAuth, Tag("ApiKey")]
    | Annotated[BearerAuth, Tag("Bearer")],
    Discriminator(
        _tagger({"none": "None", "api_key": "ApiKey", "bearer": "Bearer"}),
        custom_error_type="invalid_auth",
        custom_error_message="an action's auth type must be 'none', 'api_key' or 'bearer'",
    ),
]


class ActionParam(_Strict):
    """``actions[]``: an OpenAPI 3.0/3.1 document (an object, or JSON or YAML text) whose
    operations the assistant may call, and the credentials they need (stored
    encrypted, never shown)."""

    openapi: dict[str, Any] | StrictStr
    auth: ActionAuth | None = None


# --- assistants -------------------------------------------------------------------------


class AssistantCreateParams(_Strict):
    """``beta.assistants.create``; ranges and lengths as in the API reference.
    ``reasoning_effort`` is accepted and not kept (the served models do not reason)."""

    model: StrictStr
    name: StrictStr | None = Field(default=None, max_length=256)
    description: StrictStr | None = Field(default=None, max_length=512)
    instructions: StrictStr | None = Field(default=None, max_length=256_000)
    reasoning_effort: ReasoningEffort | None = None
    tools: list[Tool] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_resources: NewToolResources | None = None
    metadata: Metadata = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    response_format: ResponseFormat | None = None
    actions: list[ActionParam] | None = Field(default=None, max_length=MAX_ACTIONS)


class AssistantUpdateParams(_Strict):
    """``beta.assistants.update``: the fields sent replace the assistant's."""

    model: StrictStr | None = None
    name: StrictStr | None = Field(default=None, max_length=256)
    description: StrictStr | None = Field(default=None, max_length=512)
    instructions: StrictStr | None = Field(default=None, max_length=256_000)
    reasoning_effort: ReasoningEffort | None = None
    tools: list[Tool] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_resources: ToolResources | None = None
    metadata: Metadata = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    response_format: ResponseFormat | None = None
    actions: list[ActionParam] | None = Field(default=None, max_length=MAX_ACTIONS)


# --- messages ---------------------------------------------------------------------------


class TextPart(_Strict):
    """``{"type": "text", "text": "..."}``."""

    type: Literal["text"]
    text: StrictStr


class ImageFile(_Strict):
    file_id: StrictStr
    detail: Literal["auto", "low", "high"] | None = None


class ImageFilePart(_Strict):
    """``{"type": "image_file", ...}``: parsed, then refused (the models cannot see)."""

    type: Literal["image_file"]
    image_file: ImageFile


class ImageUrl(_Strict):
    url: StrictStr
    detail: Literal["auto", "low", "high"] | None = None


class ImageUrlPart(_Strict):
    """``{"type": "image_url", ...}``: parsed, then refused (the models cannot see)."""

    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = Annotated[
    Annotated[TextPart, Tag("Text")]
    | Annotated[ImageFilePart, Tag("ImageFile")]
    | Annotated[ImageUrlPart, Tag("ImageUrl")],
    Discriminator(
        _tagger({"text": "Text", "image_file": "ImageFile", "image_url": "ImageUrl"}),
        custom_error_type="invalid_content_part",
        custom_error_message="a content part's type must be 'text', 'image_file' or 'image_url'",
    ),
]


def _content_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "Text"
    return "Parts" if isinstance(value, list) else None


Content = Annotated[
    Annotated[StrictStr, Tag("Text")]
    | Annotated[list[ContentPart], Field(min_length=1), Tag("Parts")],
    Discriminator(
        _content_tag,
        custom_error_type="invalid_content",
        custom_error_message="content must be a string or an array of content parts",
    ),
]


class FileSearchAttachment(_Strict):
    """``{"type": "file_search"}``: the file goes into the thread's vector store."""

    type: Literal["file_search"]


AttachmentTool = Annotated[
    Annotated[CodeInterpreterTool, Tag("CodeInterpreter")]
    | Annotated[FileSearchAttachment, Tag("FileSearch")],
    Discriminator(
        _tagger({"code_interpreter": "CodeInterpreter", "file_search": "FileSearch"}),
        custom_error_type="invalid_attachment_tool",
        custom_error_message=(
            "an attachment's tool type must be 'code_interpreter' or 'file_search'"
        ),
    ),
]


class Attachment(_Strict):
    """``attachments[]``: one of the project's files and the tools it is added to."""

    file_id: StrictStr
    tools: list[AttachmentTool]


class MessageCreateParams(_Strict):
    """``beta.threads.messages.create`` (and each of ``threads.create``'s
    ``messages``)."""

    role: Literal["user", "assistant"]
    content: Content
    attachments: list[Attachment] | None = None
    metadata: Metadata = None


class MessageUpdateParams(_Strict):
    """``beta.threads.messages.update``: only ``metadata``."""

    metadata: Metadata = None


# --- threads ----------------------------------------------------------------------------


class ThreadCreateParams(_Strict):
    """``beta.threads.create`` (and ``create_and_run``'s ``thread``)."""

    messages: list[MessageCreateParams] | None = Field(default=None, max_length=MAX_THREAD_MESSAGES)
    tool_resources: NewToolResources | None = None
    metadata: Metadata = None


class ThreadUpdateParams(_Strict):
    """``beta.threads.update``: the fields sent replace the thread's."""

    tool_resources: ToolResources | None = None
    metadata: Metadata = None
