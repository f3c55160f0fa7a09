"""The wire contract: every object kind Hearth returns, and the ``openai`` SDK type it must
validate as. The SDK builds responses with ``construct()`` (no validation), so a missing or
misnamed field would pass every SDK-driven test; ``check`` validates the raw JSON strictly
and refuses fields the type does not declare, recursively.

A new resource adds its kinds to ``KINDS`` and fetches them in ``tests/api/test_contract.py``
(or, for kinds only a real server makes, in its end-to-end test).
"""

from __future__ import annotations

import re
from typing import Any, Generic, Literal, TypeVar

from openai.types import (
    Completion,
    CompletionChoice,
    ContainerCreateResponse,
    ContainerListResponse,
    ContainerRetrieveResponse,
    CreateEmbeddingResponse,
    EvalCreateResponse,
    EvalDeleteResponse,
    EvalListResponse,
    EvalRetrieveResponse,
    EvalUpdateResponse,
    FileDeleted,
    FileObject,
    Model,
    ModelDeleted,
    VectorStore,
    VectorStoreDeleted,
    VectorStoreSearchResponse,
)
from openai.types.admin.organization import (
    AdminAPIKey,
    AdminAPIKeyCreateResponse,
    AdminAPIKeyDeleteResponse,
    AuditLogListResponse,
    Invite,
    InviteDeleteResponse,
    OrganizationUser,
    Project,
    UserDeleteResponse,
)
from openai.types.admin.organization.projects import (
    APIKeyDeleteResponse,
    ProjectAPIKey,
    ProjectRateLimit,
    ProjectServiceAccount,
    ServiceAccountCreateResponse,
    ServiceAccountDeleteResponse,
)
from openai.types.admin.organization.projects.service_accounts import APIKeyCreateResponse
from openai.types.audio import Transcription, TranscriptionVerbose, Translation
from openai.types.beta import Assistant, AssistantDeleted, Thread, ThreadDeleted
from openai.types.beta.threads import Message as ThreadMessage
from openai.types.beta.threads import MessageDeleted as ThreadMessageDeleted
from openai.types.beta.threads import MessageDeltaEvent, Run
from openai.types.beta.threads.runs import RunStep, RunStepDeltaEvent
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionDeleted,
    ChatCompletionStoreMessage,
)
from openai.types.completion_choice import Logprobs
from openai.types.containers import FileCreateResponse, FileListResponse, FileRetrieveResponse
from openai.types.conversations import Conversation as ConversationObject
from openai.types.conversations import (
    ConversationDeletedResource,
    ConversationItem,
    ConversationItemList,
)
from openai.types.evals import (
    RunCancelResponse,
    RunCreateResponse,
    RunDeleteResponse,
    RunListResponse,
    RunRetrieveResponse,
)
from openai.types.evals.runs import (
    OutputItemListResponse,
    OutputItemRetrieveResponse,
    output_item_list_response,
    output_item_retrieve_response,
)
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint
from openai.types.realtime import ClientSecretCreateResponse
from openai.types.responses import (
    InputTokenCountResponse,
    Response,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseItem,
    ResponseStreamEvent,
)
from openai.types.vector_stores import (
    FileContentResponse,
    VectorStoreFile,
    VectorStoreFileBatch,
    VectorStoreFileDeleted,
)
from pydantic import BaseModel, ConfigDict, RootModel, create_model

from hearth.services.containers import ContainerDeleted, ContainerFileDeleted
from hearth.services.responses.service import Compaction, ResponseDeleted

T = TypeVar("T", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)


def _nullable(cls: type[M], *names: str, **nested: type[BaseModel]) -> type[M]:
    """``cls`` with ``names`` still required but allowed to be null, and ``nested`` fields
    of the given (relaxed) types: where OpenAI's own wire sends null although the SDK's
    type says otherwise (kept to the fields listed here, each one a known case)."""
    fields: dict[str, Any] = {n: (cls.model_fields[n].annotation | None, ...) for n in names}
    fields.update({n: (t, ...) for n, t in nested.items()})
    return create_model(cls.__name__, __base__=cls, **fields)  # type: ignore[call-overload, no-any-return]


# OpenAI sends ``error: null`` on a run that did not fail, ``model: null`` on a run whose
# data source has no model, and nulls for sampling values a sample did not use.
_RUN_NULLS = ("error", "model")
_SAMPLE_NULLS = ("error", "seed", "max_completion_tokens", "temperature", "top_p")

# A stored completion carries its request's settings (OpenAI's list and retrieve examples),
# and its messages keep their own role and name, which the SDK's types leave out.
_StoredCompletion = create_model(
    "StoredCompletion",
    __base__=ChatCompletion,
    request_id=(str | None, None),
    seed=(int | None, None),
    temperature=(float | None, None),
    top_p=(float | None, None),
    presence_penalty=(float | None, None),
    frequency_penalty=(float | None, None),
    input_user=(str | None, None),
    tools=(list[dict[str, Any]] | None, None),
    tool_choice=(Any | None, None),
    response_format=(dict[str, Any] | None, None),
)
_StoreMessage = create_model(
    "StoreMessage",
    __base__=ChatCompletionStoreMessage,
    role=(Literal["developer", "system", "user", "assistant", "tool"], ...),
    name=(str | None, None),
    tool_call_id=(str | None, None),
)

# a streamed legacy completion has the same shape as the whole (the SDK says so), with
# ``finish_reason: null`` until its choice ends
_CompletionChunk = _nullable(
    Completion,
    choices=list[_nullable(CompletionChoice, "finish_reason")],  # type: ignore[misc]
)

# with ``echo``, the prompt's first token has no logprob: OpenAI sends ``null`` in both
# lists at its place, which the SDK's element types leave out
_EchoLogprobs = create_model(
    "EchoLogprobs",
    __base__=Logprobs,
    token_logprobs=(list[float | None] | None, None),
    top_logprobs=(list[dict[str, float] | None] | None, None),
)
_EchoCompletion = create_model(
    "EchoCompletion",
    __base__=Completion,
    choices=(
        list[create_model("EchoChoice", __base__=CompletionChoice, logprobs=(_EchoLogprobs, ...))],  # type: ignore[valid-type]
        ...,
    ),
)


class _SearchPage(BaseModel):
    """``vector_stores.search``'s page (the SDK reads it as a ``SyncPage``; the fields are
    OpenAI's reference's ``VectorStoreSearchResultsPage``)."""

    model_config = ConfigDict(extra="forbid")
    object: Literal["vector_store.search_results.page"]
    search_query: list[str]
    data: list[VectorStoreSearchResponse]
    has_more: bool
    next_page: str | None


class _ContentPage(BaseModel):
    """``vector_stores.files.content``'s page (``SyncPage[FileContentResponse]``)."""

    model_config = ConfigDict(extra="forbid")
    object: Literal["vector_store.file_content.page"]
    data: list[FileContentResponse]
    has_more: bool
    next_page: str | None


# A response carries every field of the Open Responses ``ResponseResource``; OpenAI sends
# ``store``, ``presence_penalty`` and ``frequency_penalty`` on it too, which the SDK's
# ``Response`` leaves out. ``function_call_arguments.done`` names its function (OpenAI
# and Open Responses send ``name``).
_Response = create_model(
    "Response",
    __base__=Response,
    store=(bool, ...),
    presence_penalty=(float, ...),
    frequency_penalty=(float, ...),
)
_ArgumentsDone = create_model(
    "ArgumentsDone", __base__=ResponseFunctionCallArgumentsDoneEvent, name=(str, ...)
)


class _StreamEvent(RootModel[ResponseStreamEvent]):
    """One Responses stream event, as the SDK's union of event types."""


class _ResponseItem(RootModel[ResponseItem]):
    """One input item of a stored response."""


class _ConversationItem(RootModel[ConversationItem]):
    """One conversation item."""


KINDS: dict[str, type[BaseModel]] = {
    "response": _Response,
    "response.stream_event": _StreamEvent,
    "response.function_call_arguments.done": _ArgumentsDone,
    "response.deleted": ResponseDeleted,
    "response.input_item": _ResponseItem,
    "response.input_tokens": InputTokenCountResponse,
    "response.compaction": Compaction,
    "conversation": ConversationObject,
    "conversation.deleted": ConversationDeletedResource,
    "conversation.item": _ConversationItem,
    "conversation.item_list": ConversationItemList,
    "model": Model,
    "embedding.list": CreateEmbeddingResponse,
    "vector_store": VectorStore,
    "vector_store.deleted": VectorStoreDeleted,
    "vector_store.file": VectorStoreFile,
    "vector_store.file.deleted": VectorStoreFileDeleted,
    "vector_store.files_batch": VectorStoreFileBatch,
    "vector_store.search_results.page": _SearchPage,
    "vector_store.file_content.page": _ContentPage,
    "container.create": ContainerCreateResponse,
    "container.retrieve": ContainerRetrieveResponse,
    "container.list_item": ContainerListResponse,
    "container.deleted": ContainerDeleted,
    "container.file.create": FileCreateResponse,
    "container.file.retrieve": FileRetrieveResponse,
    "container.file.list_item": FileListResponse,
    "container.file.deleted": ContainerFileDeleted,
    "assistant": Assistant,
    "assistant.deleted": AssistantDeleted,
    "thread": Thread,
    "thread.deleted": ThreadDeleted,
    "thread.message": ThreadMessage,
    "thread.message.deleted": ThreadMessageDeleted,
    "thread.message.delta": MessageDeltaEvent,
    "thread.run": Run,
    "thread.run.step": RunStep,
    "thread.run.step.delta": RunStepDeltaEvent,
    "model.deleted": ModelDeleted,
    "file": FileObject,
    "file.deleted": FileDeleted,
    "text_completion": Completion,
    "text_completion.chunk": _CompletionChunk,
    "text_completion.echo": _EchoCompletion,
    "chat.completion": ChatCompletion,
    "chat.completion.chunk": ChatCompletionChunk,
    "chat.completion.stored": _StoredCompletion,
    "chat.completion.deleted": ChatCompletionDeleted,
    "chat.completion.store_message": _StoreMessage,
    "audio.transcription": Transcription,
    "audio.transcription.verbose": TranscriptionVerbose,
    "audio.translation": Translation,
    "eval.create": EvalCreateResponse,
    "eval.retrieve": EvalRetrieveResponse,
    "eval.update": EvalUpdateResponse,
    "eval.list_item": EvalListResponse,
    "eval.deleted": EvalDeleteResponse,
    "eval.run.create": _nullable(RunCreateResponse, *_RUN_NULLS),
    "eval.run.retrieve": _nullable(RunRetrieveResponse, *_RUN_NULLS),
    "eval.run.list_item": _nullable(RunListResponse, *_RUN_NULLS),
    "eval.run.cancel": _nullable(RunCancelResponse, *_RUN_NULLS),
    "eval.run.deleted": RunDeleteResponse,
    "eval.run.output_item.retrieve": _nullable(
        OutputItemRetrieveResponse,
        sample=_nullable(output_item_retrieve_response.Sample, *_SAMPLE_NULLS),
    ),
    "eval.run.output_item.list_item": _nullable(
        OutputItemListResponse, sample=_nullable(output_item_list_response.Sample, *_SAMPLE_NULLS)
    ),
    "fine_tuning.job": FineTuningJob,
    "fine_tuning.job.event": FineTuningJobEvent,
    "fine_tuning.job.checkpoint": FineTuningJobCheckpoint,
    "realtime.client_secret": ClientSecretCreateResponse,
    "organization.project": Project,
    "organization.project.api_key": ProjectAPIKey,
    "organization.project.api_key.deleted": APIKeyDeleteResponse,
    "organization.project.service_account": ProjectServiceAccount,
    "organization.project.service_account.create": ServiceAccountCreateResponse,
    "organization.project.service_account.deleted": ServiceAccountDeleteResponse,
    "organization.project.service_account.api_key": APIKeyCreateResponse,
    "organization.user": OrganizationUser,
    "organization.user.deleted": UserDeleteResponse,
    "organization.invite": Invite,
    "organization.invite.deleted": InviteDeleteResponse,
    "organization.admin_api_key": AdminAPIKey,
    "organization.admin_api_key.create": AdminAPIKeyCreateResponse,
    "organization.admin_api_key.deleted": AdminAPIKeyDeleteResponse,
    "project.rate_limit": ProjectRateLimit,
    "organization.audit_log": AuditLogListResponse,
}
"""Object kind -> the SDK type its JSON must validate as."""

UNDECLARED_ALLOWED = [
    re.compile(r"\.testing_criteria\[\d+\]\.id$"),
    re.compile(r"\.response\.(store|presence_penalty|frequency_penalty)$"),
    re.compile(r"\.choices\[\d+\]\.(message|delta)\.reasoning_content$"),
]
"""Fields OpenAI sends that the SDK's types do not declare (a criterion's ``id``; the
response inside a stream event carries what ``_Response`` adds), and Hearth's one
extension: a thinking model's ``reasoning_content`` on chat messages and deltas (the
name vLLM and llama.cpp's server use; ``docs/chat-completions.md``)."""


class Listing(BaseModel, Generic[T]):
    """OpenAI's list envelope (``SyncCursorPage`` / ``SyncPage``): nothing else allowed."""

    model_config = ConfigDict(extra="forbid")

    object: Literal["list"]
    data: list[T]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool | None = None


def _undeclared(value: Any, path: str) -> list[str]:
    """Paths of fields present in the JSON that no SDK type along the way declares."""
    if isinstance(value, BaseModel):
        found = [f"{path}.{key}" for key in (value.model_extra or {})]
        for name in type(value).model_fields:
            found += _undeclared(getattr(value, name), f"{path}.{name}")
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _undeclared(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for k, item in value.items() for p in _undeclared(item, f"{path}.{k}")]
    return []


def check(kind: str, body: str | bytes) -> BaseModel:
    """``body`` (raw JSON) validated strictly as ``kind``'s SDK type; AssertionError naming
    every field the type does not declare (a misnamed field), pydantic's error for a
    missing or mistyped one."""
    obj = KINDS[kind].model_validate_json(body, strict=True)
    extra = [
        p for p in _undeclared(obj, kind) if not any(rule.search(p) for rule in UNDECLARED_ALLOWED)
    ]
    assert not extra, f"{kind}: fields the SDK type does not declare: {extra}"
    return obj


def check_list(kind: str, body: str | bytes) -> Listing[Any]:
    """A list response of ``kind`` objects, each checked as ``check`` does."""
    page = Listing[KINDS[kind]].model_validate_json(body, strict=True)  # type: ignore[index]
    extra = [
        p
        for p in _undeclared(page, f"list[{kind}]")
        if not any(rule.search(p) for rule in UNDECLARED_ALLOWED)
    ]
    assert not extra, f"list of {kind}: fields the SDK type does not declare: {extra}"
    return page
