"""The agent runtime: one response as a loop of model calls and tool executions, emitted
as OpenAI's typed stream events (OpenAI API reference: Responses > Streaming events; the
Open Responses specification).

A ``Turn`` reads its context (earlier items + this request's input), calls the model
through the Chat Completions service (so grammars, tool-call parsing and the prompt cache
are the ones chat uses), turns each chunk into events, executes built-in tools
(``file_search``, ``code_interpreter``) and calls the model again with their results,
until the model answers, calls a client function (the response then ends with
``function_call`` items for the client to answer with ``function_call_output`` and
``previous_response_id``), runs out of ``max_output_tokens`` (``incomplete``) or fails
(``failed``). Non-streamed requests drain the same events, so both paths produce the same
response.

Events are the SDK's own types; ``sequence_number`` counts from 0 per response.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from openai.types.chat import ChatCompletionChunk
from openai.types.responses import (
    Response,
    ResponseCodeInterpreterCallCodeDeltaEvent,
    ResponseCodeInterpreterCallCodeDoneEvent,
    ResponseCodeInterpreterCallCompletedEvent,
    ResponseCodeInterpreterCallInProgressEvent,
    ResponseCodeInterpreterCallInterpretingEvent,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseFileSearchCallCompletedEvent,
    ResponseFileSearchCallInProgressEvent,
    ResponseFileSearchCallSearchingEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseQueuedEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseReasoningTextDoneEvent,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from pydantic import BaseModel

from hearth.domain import Principal
from hearth.errors import ContextLengthExceeded, HearthError, InternalError
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.params import (
    ChatCompletionParams,
    FunctionDefinition,
    JsonSchemaFormat,
    Message,
    NamedFunction,
    NamedToolChoice,
    ResponseFormat,
    StreamOptions,
    Tool,
)
from hearth.services.responses.items import message_text, new_item_id, to_messages
from hearth.services.responses.params import (
    CodeInterpreterToolParam,
    CreateParams,
    FileSearchToolParam,
    FunctionToolParam,
    JsonSchemaText,
)

log = logging.getLogger(__name__)

FILE_SEARCH = "file_search"
"""The name the model calls the built-in ``file_search`` tool by."""


def truncation_block(items: int) -> int:
    """How many items ``truncation: auto`` leaves out at a time: a power of two near an
    eighth of them (1 up to 15 items, 16 for 128-255), so the first kept item moves only
    every few turns while at most about an eighth of the context goes unused."""
    return 1 << max(0, (items // 8).bit_length() - 1)


MAX_SEARCH_ROUNDS = 3
"""Model calls that may search before ``file_search`` is taken away (a small model can
keep searching); ``max_tool_calls`` lowers it."""
_SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "queries": {
            "type": "array",
            "items": {"type": "string", "minLength": 3, "maxLength": 100},
            "minItems": 1,
            "maxItems": 3,
        }
    },
    "required": ["queries"],
    "additionalProperties": False,
}
_SEARCH_DESCRIPTION = (
    "Search the files the user provided. Use it to find facts before answering questions "
    "about them. `queries`: one to three search queries."
)

Search = Callable[[FileSearchToolParam, list[str]], Any]
"""``(tool, queries) -> awaitable list of result dicts`` (file_id, filename, score, text,
attributes): the file search the runtime calls."""

CODE_INTERPRETER = "code_interpreter"
"""The name the model calls the built-in ``code_interpreter`` tool by."""
_CODE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"code": {"type": "string", "minLength": 1}},
    "required": ["code"],
    "additionalProperties": False,
}
_CODE_DESCRIPTION = (
    "Run Python code in a stateful Jupyter notebook (variables persist between calls) with "
    "numpy, pandas and matplotlib. The user's files are in /mnt/data; save files there to "
    "give them to the user. Returns what the code prints. No internet access."
)


@dataclass(frozen=True)
class CodeRun:
    """One code interpreter call's result: the ``Execution`` and the container files it
    created or changed (``(file_id, filename)``)."""

    execution: Any
    files: list[tuple[str, str]]


Interpret = Callable[[str], Awaitable[CodeRun]]
"""``code -> CodeRun``: runs code in the response's container."""


@dataclass
class Setup:
    """Everything a turn needs, checked before any event: the request, its context (items
    the model reads before the input), the input items, the tools and the response's
    identity. Built by ``service.Responses``."""

    caller: Principal
    params: CreateParams
    response_id: str
    created_at: int
    model: str
    context: list[dict[str, Any]]
    input_items: list[dict[str, Any]]
    functions: list[FunctionToolParam]
    file_search: FileSearchToolParam | None
    search: Search | None = None
    code_interpreter: CodeInterpreterToolParam | None = None
    container_id: str | None = None
    """The container ``code_interpreter`` runs in (resolved before the first event)."""
    interpret: Interpret | None = None
    skip: int = 0
    """Leading items of context + input left out of the prompt (``truncation: auto``)."""
    max_prompt_tokens: int | None = None
    """With ``truncation: auto``, items are also left out until a prompt is this short."""

    @property
    def include(self) -> set[str]:
        return set(self.params.include or ())


def response_object(
    setup: Setup,
    status: str,
    output: list[dict[str, Any]],
    *,
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    incomplete: str | None = None,
    completed_at: int | None = None,
    include: set[str] | None = None,
) -> Response:
    """The ``Response`` with every field the API returns, defaults applied (every field
    of the Open Responses ``ResponseResource``, nullable ones as null); ``include`` as
    the request's (``setup``'s when None)."""
    p = setup.params
    shown = setup.include if include is None else include
    output = [visible(item, shown) for item in output]
    tools: list[dict[str, Any]] = [
        t.model_dump(mode="json", exclude_unset=False) for t in setup.functions
    ]
    if setup.file_search is not None:
        tools.append(setup.file_search.model_dump(mode="json", exclude_none=True))
    if setup.code_interpreter is not None:
        tools.append(setup.code_interpreter.model_dump(mode="json", exclude_none=True))
    text: dict[str, Any] = {"format": {"type": "text"}, "verbosity": "medium"}
    if p.text is not None:
        if p.text.format is not None:
            text["format"] = p.text.format.model_dump(mode="json", by_alias=True, exclude_none=True)
        if p.text.verbosity:
            text["verbosity"] = p.text.verbosity
    reasoning = p.reasoning
    conversation = setup.params.conversation_id
    return as_response(
        {
            "id": setup.response_id,
            "object": "response",
            "created_at": setup.created_at,
            "completed_at": completed_at,
            "status": status,
            "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "model": setup.model,
            "instructions": p.instructions,
            "output": output,
            "previous_response_id": p.previous_response_id,
            "conversation": {"id": conversation} if conversation else None,
            "tools": tools,
            "tool_choice": p.tool_choice if p.tool_choice is not None else "auto",
            "parallel_tool_calls": p.parallel_tool_calls is not False,
            "text": text,
            "truncation": p.truncation or "disabled",
            "temperature": 1.0 if p.temperature is None else p.temperature,
            "top_p": 1.0 if p.top_p is None else p.top_p,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "top_logprobs": p.top_logprobs or 0,
            "reasoning": {
                "effort": reasoning.effort if reasoning else None,
                "summary": (reasoning.summary or reasoning.generate_summary) if reasoning else None,
            },
            "max_output_tokens": p.max_output_tokens,
            "max_tool_calls": p.max_tool_calls,
            "store": p.stored,
            "background": bool(p.background),
            "service_tier": "default",
            "metadata": p.metadata or {},
            "safety_identifier": p.safety_identifier,
            "prompt_cache_key": p.prompt_cache_key,
            "user": p.user,
            "usage": usage,
        }
    )


class ResponseObject(Response):
    """The SDK's ``Response`` with integer Unix-second timestamps, as OpenAI and the Open
    Responses spec send them (the SDK types them ``float``, which would write ``1.0``)."""

    created_at: int
    completed_at: int | None = None


def as_response(body: dict[str, Any]) -> ResponseObject:
    """``body`` validated as a ``ResponseObject``."""
    return ResponseObject.model_validate(
        {**body, **{k: int(body[k]) for k in ("created_at", "completed_at") if body.get(k)}}
    )


def response_error_code(exc: HearthError) -> str:
    """A failed response's ``error.code``, one of the codes OpenAI defines for it: the
    error's own code goes in the ``error`` event, the message in both."""
    if exc.status_code == 429:
        return "rate_limit_exceeded"
    if exc.status_code == 400:
        return "invalid_prompt"
    return "server_error"


def visible(item: dict[str, Any], include: set[str]) -> dict[str, Any]:
    """``item`` as the client sees it: a ``file_search_call``'s results and a
    ``code_interpreter_call``'s outputs only when ``include`` asks for them (they are kept
    either way, for the next turn)."""
    if item["type"] == "file_search_call" and "file_search_call.results" not in include:
        return {**item, "results": None}
    if item["type"] == "code_interpreter_call" and "code_interpreter_call.outputs" not in include:
        return {**item, "outputs": None}
    return item


def usage_object(
    input_tokens: int, output_tokens: int, cached_tokens: int, reasoning_tokens: int
) -> dict[str, Any]:
    """``usage`` as the Responses API reports it."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached_tokens, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }


def chat_tools(setup: Setup, searching: bool, interpreting: bool = False) -> list[Tool]:
    """The tools the model is offered: the client's functions and, while it may still
    use them, ``file_search`` as a function taking queries and ``code_interpreter`` as one
    taking code."""
    tools = [
        Tool(
            type="function",
            function=FunctionDefinition(
                name=f.name, description=f.description, parameters=f.parameters, strict=f.strict
            ),
        )
        for f in setup.functions
    ]
    if searching and setup.file_search is not None:
        tools.append(
            Tool(
                type="function",
                function=FunctionDefinition(
                    name=FILE_SEARCH,
                    description=_SEARCH_DESCRIPTION,
                    parameters=_SEARCH_SCHEMA,
                    strict=True,
                ),
            )
        )
    if interpreting and setup.code_interpreter is not None:
        tools.append(
            Tool(
                type="function",
                function=FunctionDefinition(
                    name=CODE_INTERPRETER,
                    description=_CODE_DESCRIPTION,
                    parameters=_CODE_SCHEMA,
                    strict=True,
                ),
            )
        )
    return tools


BUILT_IN = {FILE_SEARCH: FILE_SEARCH, CODE_INTERPRETER: CODE_INTERPRETER}
"""Built-in tool types -> the function name the model calls them by."""


def chat_tool_choice(
    choice: str | dict[str, Any] | None, tools: list[Tool], first_round: bool
) -> tuple[str | NamedToolChoice | None, list[Tool]]:
    """``tool_choice`` (already validated) as Chat Completions takes it, and the tools it
    leaves on offer (``allowed_tools`` narrows them). A forced choice applies to the first
    model call only: after a built-in tool ran, the model may answer."""
    if choice is None or not tools:
        return None, tools
    if isinstance(choice, str):
        if choice == "required" and not first_round:
            return "auto", tools
        return choice, tools
    kind = choice["type"]
    if kind == "allowed_tools":
        names = {t.get("name") or BUILT_IN.get(t.get("type", "")) for t in choice["tools"]}
        kept = [t for t in tools if t.function.name in names]
        mode = choice.get("mode", "auto")
        return (mode if first_round or mode != "required" else "auto"), kept
    name = choice.get("name") if kind == "function" else BUILT_IN.get(kind)
    if not first_round or name not in {t.function.name for t in tools}:
        return "auto", tools
    return NamedToolChoice(type="function", function=NamedFunction(name=name)), tools


def response_format(setup: Setup) -> ResponseFormat | None:
    """``text.format`` as Chat Completions' ``response_format``."""
    text = setup.params.text
    fmt = text.format if text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if isinstance(fmt, JsonSchemaText):
        return ResponseFormat(
            type="json_schema",
            json_schema=JsonSchemaFormat(
                name=fmt.name, description=fmt.description, schema=fmt.schema_, strict=fmt.strict
            ),
        )
    return ResponseFormat(type="json_object")


@dataclass
class _Open:
    """The message or call being streamed in one model call."""

    item: dict[str, Any]
    index: int
    text: list[str] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)


def _text_part(text: str, logprobs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs}


@dataclass
class _CallState:
    """One model call's open items: its message, its reasoning, its calls by index."""

    message: _Open | None = None
    reasoning: _Open | None = None
    calls: dict[int, _Open] = field(default_factory=dict)


class Turn:
    """One response's events. ``begin()`` starts the first model call before any event,
    so the request's errors surface as plain 400s."""

    def __init__(self, setup: Setup, chat: ChatCompletions, *, queued: bool = False) -> None:
        self.setup = setup
        self._chat = chat
        self._first: AsyncIterator[ChatCompletionChunk] | None = None
        self._queued = queued
        self._seq = 0
        self.output: list[dict[str, Any]] = []
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.reasoning_tokens = 0
        self.searches = 0
        self.code_runs = 0
        self.container_files: dict[str, tuple[str, str]] = {}
        """Container files the code wrote: file id -> (container id, file name)."""
        self.final: Response | None = None

    def _event(self, cls: type[BaseModel], **fields: Any) -> ResponseStreamEvent:
        event = cls.model_validate({**fields, "sequence_number": self._seq})
        self._seq += 1
        return event  # type: ignore[return-value]

    def snapshot(self, status: str, **kwargs: Any) -> Response:
        """The response as it stands, with ``status``."""
        return response_object(self.setup, status, self.output, **kwargs)

    def conversation_items(self) -> list[dict[str, Any]]:
        """What the finished response appends to its conversation: its input and output
        items (nothing without a conversation, or when it failed)."""
        assert self.final is not None
        if not self.setup.params.conversation_id or self.final.status == "failed":
            return []
        return [*self.setup.input_items, *self.output]

    def _usage(self) -> dict[str, Any]:
        return usage_object(
            self.input_tokens, self.output_tokens, self.cached_tokens, self.reasoning_tokens
        )

    async def events(self) -> AsyncIterator[ResponseStreamEvent]:
        """Every event of the response, ending with ``response.completed``,
        ``response.incomplete`` or ``response.failed`` (after an ``error`` event); the
        last response is ``final``. Closing the iterator early stops generation."""
        first = self.snapshot("queued" if self._queued else "in_progress")
        yield self._event(ResponseCreatedEvent, type="response.created", response=first)
        if self._queued:
            yield self._event(ResponseQueuedEvent, type="response.queued", response=first)
        yield self._event(
            ResponseInProgressEvent,
            type="response.in_progress",
            response=self.snapshot("in_progress"),
        )
        try:
            incomplete = None
            round_ = 0
            while True:
                chunks = self._first or await self._start(round_)
                self._first = None
                calls: list[_Open] = []
                incomplete = None
                async for event in self._model_call(chunks, calls):
                    if isinstance(event, str):
                        incomplete = event
                    else:
                        yield event
                round_ += 1
                built_in = [c for c in calls if c.item["type"] != "function_call"]
                if incomplete:  # a call cut off by max_output_tokens is not run
                    built_in = []
                for call in built_in:
                    run = self._search if _is_search(call) else self._interpret
                    async for event in run(call):
                        yield event
                functions = [c for c in calls if c.item["type"] == "function_call"]
                if incomplete or functions or not built_in:
                    break
            if incomplete:
                self.final = self.snapshot(
                    "incomplete",
                    usage=self._usage(),
                    incomplete=incomplete,
                    completed_at=None,
                )
                yield self._event(
                    ResponseIncompleteEvent, type="response.incomplete", response=self.final
                )
            else:
                self.final = self.snapshot(
                    "completed", usage=self._usage(), completed_at=int(time.time())
                )
                yield self._event(
                    ResponseCompletedEvent, type="response.completed", response=self.final
                )
        except HearthError as exc:
            async for event in self._failed(exc):
                yield event
        except Exception:
            log.exception("response %s failed", self.setup.response_id)
            async for event in self._failed(InternalError("The server had an error.")):
                yield event

    async def _failed(self, exc: HearthError) -> AsyncIterator[ResponseStreamEvent]:
        code = exc.code or exc.error_type
        yield self._event(
            ResponseErrorEvent,
            type="error",
            code=code,
            message=exc.message,
            param=exc.param,
            error={
                "code": code,
                "message": exc.message,
                "type": exc.error_type,
                "param": exc.param,
            },
        )
        error = {"code": response_error_code(exc), "message": exc.message}
        self.final = self.snapshot("failed", usage=self._usage(), error=error)
        yield self._event(ResponseFailedEvent, type="response.failed", response=self.final)

    def _budget(self) -> int | None:
        limit = self.setup.params.max_output_tokens
        return None if limit is None else max(limit - self.output_tokens, 1)

    def chat_params(self, round_: int) -> ChatCompletionParams:
        """The Chat Completions request of model call ``round_`` (0 first)."""
        setup = self.setup
        p = setup.params
        limit = MAX_SEARCH_ROUNDS if p.max_tool_calls is None else p.max_tool_calls
        tools = chat_tools(
            setup,
            searching=self.searches < limit and round_ < MAX_SEARCH_ROUNDS,
            interpreting=self.code_runs < limit and round_ < MAX_SEARCH_ROUNDS,
        )
        choice, tools = chat_tool_choice(p.tool_choice, tools, round_ == 0)
        logprobs = "message.output_text.logprobs" in setup.include
        items = [*setup.context, *setup.input_items][setup.skip :]
        while items and items[0]["type"] == "function_call_output":  # its call was dropped
            items.pop(0)
        messages: list[Message] = to_messages([*items, *self.output], p.instructions)
        return ChatCompletionParams(
            model=setup.model,
            messages=messages,
            temperature=p.temperature,
            top_p=p.top_p,
            max_completion_tokens=self._budget(),
            tools=tools or None,
            tool_choice=choice if tools else None,  # type: ignore[arg-type]
            parallel_tool_calls=p.parallel_tool_calls,
            response_format=response_format(setup),
            logprobs=logprobs or None,
            top_logprobs=p.top_logprobs if logprobs else None,
            reasoning_effort=p.reasoning.effort if p.reasoning else None,
            stream=True,
            stream_options=StreamOptions(include_usage=True),
        )

    async def begin(self) -> None:
        """Start the first model call (raising the request's errors)."""
        self._first = await self._start(0)

    async def _start(self, round_: int) -> AsyncIterator[ChatCompletionChunk]:
        """Start model call ``round_``; with ``truncation: auto``, the oldest items are
        left out until the prompt fits the context (and ``max_prompt_tokens``); the last
        input item always stays."""
        setup = self.setup
        auto = setup.params.truncation == "auto"
        if auto and setup.max_prompt_tokens is not None and not await self._fits(round_):
            await self._truncate(round_)  # best effort: the last item may be longer alone
        while True:
            try:
                return await self._chat.stream(setup.caller, self.chat_params(round_))
            except ContextLengthExceeded as exc:
                if not auto or not await self._truncate(round_):
                    exc.param = "input"
                    raise

    async def _fits(self, round_: int) -> bool:
        """Whether model call ``round_``'s prompt, as items are now skipped, fits the
        context and ``max_prompt_tokens`` (tokenized, nothing generated)."""
        setup = self.setup
        try:
            tokens = await self._chat.prompt_tokens(setup.caller, self.chat_params(round_))
        except ContextLengthExceeded:
            return False
        return setup.max_prompt_tokens is None or tokens <= setup.max_prompt_tokens

    async def _truncate(self, round_: int) -> bool:
        """Skip the fewest more leading items that make the prompt fit, counted in blocks
        (``truncation_block``): the prompt's start then stays put over the next turns of a
        conversation, so its KV is found in the prompt cache instead of prefilled again.
        A binary search over token counts: a long thread costs a few tokenizations, not
        one per item. False when even the last item alone does not fit (then all but it
        are skipped)."""
        setup = self.setup
        last = len(setup.context) + len(setup.input_items) - 1
        block = truncation_block(last + 1)
        lo, hi = setup.skip // block + 1, -(-last // block)
        if setup.skip >= last:
            return False
        setup.skip = min(hi * block, last)
        if not await self._fits(round_):
            return False
        while lo < hi:
            mid = (lo + hi) // 2
            setup.skip = min(mid * block, last)
            if await self._fits(round_):
                hi = mid
            else:
                lo = mid + 1
        setup.skip = min(hi * block, last)
        return True

    async def _model_call(
        self, chunks: AsyncIterator[ChatCompletionChunk], calls: list[_Open]
    ) -> AsyncIterator[ResponseStreamEvent | str]:
        """Events of one model call; ``calls`` receives its tool calls; a ``str`` yielded
        is the reason the response is incomplete. A thinking model's thinking arrives
        apart from its answer (chat's ``delta.reasoning_content``) and becomes a
        ``reasoning`` item."""
        state = _CallState()
        finish = None
        try:
            async for chunk in chunks:
                if chunk.usage is not None:
                    self._add_usage(chunk)
                for choice in chunk.choices:
                    delta = choice.delta
                    finish = choice.finish_reason or finish
                    thought = (delta.model_extra or {}).get("reasoning_content")
                    if thought:
                        for event in self._on_text(state, "reasoning", thought, []):
                            yield event
                    if delta.content:
                        logprobs = choice.logprobs.content if choice.logprobs else None
                        entries = [_logprob(e) for e in logprobs or ()]
                        for event in self._on_text(state, "text", delta.content, entries):
                            yield event
                    for call in delta.tool_calls or ():
                        for event in self._on_call(state, call, calls):
                            yield event
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
        if state.reasoning is not None and state.reasoning.item["status"] == "in_progress":
            for event in self._close_reasoning(state.reasoning):
                yield event
        status = "incomplete" if finish == "length" else "completed"
        if state.message is not None:
            async for event in self._close_message(state.message, status):
                yield event
        for open_ in calls:
            if open_.item["type"] == "function_call":
                arguments = "".join(open_.text)
                open_.item.update(arguments=arguments, status=status)
                yield self._event(
                    ResponseFunctionCallArgumentsDoneEvent,
                    type="response.function_call_arguments.done",
                    item_id=open_.item["id"],
                    output_index=open_.index,
                    name=open_.item["name"],
                    arguments=arguments,
                )
                yield self._done(open_)
        if finish == "length":
            yield "max_output_tokens"

    def _add_usage(self, chunk: ChatCompletionChunk) -> None:
        usage = chunk.usage
        assert usage is not None
        self.input_tokens += usage.prompt_tokens
        self.output_tokens += usage.completion_tokens
        details = usage.prompt_tokens_details
        self.cached_tokens += (details.cached_tokens or 0) if details else 0
        thinking = usage.completion_tokens_details
        self.reasoning_tokens += (thinking.reasoning_tokens or 0) if thinking else 0

    def _on_text(
        self, state: _CallState, kind: str, text: str, logprobs: list[dict[str, Any]]
    ) -> list[ResponseStreamEvent]:
        """Events for a piece of the model's text: thinking goes to a ``reasoning`` item,
        the answer to a ``message`` item (each added when its first piece arrives)."""
        out: list[ResponseStreamEvent] = []
        if kind == "reasoning":
            if state.reasoning is None:
                state.reasoning = self._add(
                    {
                        "id": new_item_id("reasoning"),
                        "type": "reasoning",
                        "summary": [],
                        "status": "in_progress",
                    }
                )
                out.append(self._added(state.reasoning))
            state.reasoning.text.append(text)
            out.append(
                self._event(
                    ResponseReasoningTextDeltaEvent,
                    type="response.reasoning_text.delta",
                    item_id=state.reasoning.item["id"],
                    output_index=state.reasoning.index,
                    content_index=0,
                    delta=text,
                )
            )
            return out
        if state.reasoning is not None and state.reasoning.item["status"] == "in_progress":
            out += self._close_reasoning(state.reasoning)
        message = state.message
        if message is None:
            message = state.message = self._add(
                {
                    "id": new_item_id("message"),
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                }
            )
            out.append(self._added(message))
            out.append(
                self._event(
                    ResponseContentPartAddedEvent,
                    type="response.content_part.added",
                    item_id=message.item["id"],
                    output_index=message.index,
                    content_index=0,
                    part=_text_part("", []),
                )
            )
        message.text.append(text)
        message.logprobs += logprobs
        out.append(
            self._event(
                ResponseTextDeltaEvent,
                type="response.output_text.delta",
                item_id=message.item["id"],
                output_index=message.index,
                content_index=0,
                delta=text,
                logprobs=[_delta_logprob(e) for e in logprobs],
            )
        )
        return out

    def _on_call(
        self, state: _CallState, call: Any, calls: list[_Open]
    ) -> list[ResponseStreamEvent]:
        """Events for a tool-call delta: a client function streams as a ``function_call``
        item; a ``file_search`` or ``code_interpreter`` call is collected and run when the
        model call ends."""
        out: list[ResponseStreamEvent] = []
        open_ = state.calls.get(call.index)
        if open_ is None:
            name = call.function.name if call.function else ""
            if name == FILE_SEARCH and self.setup.file_search is not None:
                item: dict[str, Any] = {
                    "id": new_item_id("file_search_call"),
                    "type": "file_search_call",
                    "status": "in_progress",
                    "queries": [],
                    "results": None,
                }
                open_ = _Open(item, -1)
            elif name == CODE_INTERPRETER and self.setup.code_interpreter is not None:
                item = {
                    "id": new_item_id("code_interpreter_call"),
                    "type": "code_interpreter_call",
                    "status": "in_progress",
                    "code": "",
                    "container_id": self.setup.container_id,
                    "outputs": None,
                }
                open_ = _Open(item, -1)
            else:
                open_ = self._add(
                    {
                        "id": new_item_id("function_call"),
                        "type": "function_call",
                        "status": "in_progress",
                        "call_id": call.id,
                        "name": name,
                        "arguments": "",
                    }
                )
                out.append(self._added(open_))
            state.calls[call.index] = open_
            calls.append(open_)
        fragment = call.function.arguments if call.function else None
        if fragment:
            open_.text.append(fragment)
            if open_.item["type"] == "function_call":
                out.append(
                    self._event(
                        ResponseFunctionCallArgumentsDeltaEvent,
                        type="response.function_call_arguments.delta",
                        item_id=open_.item["id"],
                        output_index=open_.index,
                        delta=fragment,
                    )
                )
        return out

    def _add(self, item: dict[str, Any]) -> _Open:
        self.output.append(item)
        return _Open(item, len(self.output) - 1)

    def _added(self, open_: _Open) -> ResponseStreamEvent:
        return self._event(
            ResponseOutputItemAddedEvent,
            type="response.output_item.added",
            output_index=open_.index,
            item=visible(dict(open_.item), self.setup.include),
        )

    def _done(self, open_: _Open) -> ResponseStreamEvent:
        return self._event(
            ResponseOutputItemDoneEvent,
            type="response.output_item.done",
            output_index=open_.index,
            item=visible(open_.item, self.setup.include),
        )

    def _close_reasoning(self, open_: _Open) -> list[ResponseStreamEvent]:
        text = "".join(open_.text)
        open_.item.update(status="completed", content=[{"type": "reasoning_text", "text": text}])
        return [
            self._event(
                ResponseReasoningTextDoneEvent,
                type="response.reasoning_text.done",
                item_id=open_.item["id"],
                output_index=open_.index,
                content_index=0,
                text=text,
            ),
            self._done(open_),
        ]

    async def _close_message(self, open_: _Open, status: str) -> AsyncIterator[ResponseStreamEvent]:
        text = "".join(open_.text)
        part: dict[str, Any] = {
            "type": "output_text",
            "text": text,
            "annotations": [],
            "logprobs": open_.logprobs,
        }
        ids = {"item_id": open_.item["id"], "output_index": open_.index, "content_index": 0}
        for n, annotation in enumerate(self._citations(len(text))):
            part["annotations"].append(annotation)
            yield self._event(
                ResponseOutputTextAnnotationAddedEvent,
                type="response.output_text.annotation.added",
                annotation_index=n,
                annotation=annotation,
                **ids,
            )
        yield self._event(
            ResponseTextDoneEvent,
            type="response.output_text.done",
            text=text,
            logprobs=[_delta_logprob(e) for e in open_.logprobs],
            **ids,
        )
        yield self._event(
            ResponseContentPartDoneEvent, type="response.content_part.done", part=part, **ids
        )
        open_.item.update(status=status, content=[part])
        yield self._done(open_)

    def _citations(self, end: int) -> list[dict[str, Any]]:
        """``file_citation`` annotations for the files this response's searches found, in
        ranking order, and ``container_file_citation`` ones for the files its code wrote,
        placed at the end of the answer: the answer was written from them."""
        seen: dict[str, dict[str, Any]] = {
            file_id: {
                "type": "container_file_citation",
                "container_id": container_id,
                "file_id": file_id,
                "filename": filename,
                "start_index": end,
                "end_index": end,
            }
            for file_id, (container_id, filename) in self.container_files.items()
        }
        for item in self.output:
            if item["type"] != "file_search_call":
                continue
            for result in item.get("results") or ():
                if result["file_id"] not in seen:
                    seen[result["file_id"]] = {
                        "type": "file_citation",
                        "file_id": result["file_id"],
                        "filename": result["filename"],
                        "index": end,
                    }
        return list(seen.values())

    def _last_question(self) -> list[str]:
        """The text of the last user message of the context, as a query."""
        for item in reversed([*self.setup.context, *self.setup.input_items]):
            if item["type"] == "message" and item["role"] == "user":
                text = message_text(item).strip()
                return [text[:1000]] if text else []
        return []

    async def _search(self, call: _Open) -> AsyncIterator[ResponseStreamEvent]:
        setup = self.setup
        assert setup.file_search is not None and setup.search is not None
        log.debug("file_search arguments: %s", "".join(call.text))
        try:
            queries = json.loads("".join(call.text)).get("queries") or []
        except (ValueError, AttributeError):
            queries = []
        queries = [q.strip() for q in queries if isinstance(q, str) and q.strip()][:3]
        if not queries:  # the model asked nothing usable: search for the user's question
            queries = self._last_question()
        item = call.item
        item["queries"] = queries
        self.output.append(item)
        call.index = len(self.output) - 1
        self.searches += 1
        ids = {"item_id": item["id"], "output_index": call.index}
        yield self._added(call)
        yield self._event(
            ResponseFileSearchCallInProgressEvent,
            type="response.file_search_call.in_progress",
            **ids,
        )
        item["status"] = "searching"
        yield self._event(
            ResponseFileSearchCallSearchingEvent, type="response.file_search_call.searching", **ids
        )
        results = await setup.search(setup.file_search, queries) if queries else []
        item["status"] = "completed"
        item["results"] = results
        yield self._event(
            ResponseFileSearchCallCompletedEvent, type="response.file_search_call.completed", **ids
        )
        yield self._done(call)

    async def _interpret(self, call: _Open) -> AsyncIterator[ResponseStreamEvent]:
        """Run one ``code_interpreter`` call in the response's container, with OpenAI's
        events: item added, in progress, the code (one delta: it arrives as JSON
        arguments), interpreting, completed, item done."""
        setup = self.setup
        assert setup.interpret is not None
        arguments = "".join(call.text)
        try:
            code = json.loads(arguments).get("code")
        except (ValueError, AttributeError):
            code = None
        if not isinstance(code, str):
            code = arguments  # a model that wrote bare code instead of JSON
        item = call.item
        self.output.append(item)
        call.index = len(self.output) - 1
        self.code_runs += 1
        ids = {"item_id": item["id"], "output_index": call.index}
        yield self._added(call)
        yield self._event(
            ResponseCodeInterpreterCallInProgressEvent,
            type="response.code_interpreter_call.in_progress",
            **ids,
        )
        yield self._event(
            ResponseCodeInterpreterCallCodeDeltaEvent,
            type="response.code_interpreter_call_code.delta",
            delta=code,
            **ids,
        )
        item["code"] = code
        yield self._event(
            ResponseCodeInterpreterCallCodeDoneEvent,
            type="response.code_interpreter_call_code.done",
            code=code,
            **ids,
        )
        item["status"] = "interpreting"
        yield self._event(
            ResponseCodeInterpreterCallInterpretingEvent,
            type="response.code_interpreter_call.interpreting",
            **ids,
        )
        run = await setup.interpret(code)
        execution = run.execution
        outputs: list[dict[str, Any]] = []
        for output in execution.outputs:
            if output.type == "logs":
                outputs.append({"type": "logs", "logs": output.logs})
            else:
                url = "data:image/png;base64," + base64.b64encode(output.png).decode()
                outputs.append({"type": "image", "url": url})
        if execution.error:
            outputs.append({"type": "logs", "logs": execution.error})
        for file_id, filename in run.files:
            self.container_files[file_id] = (item["container_id"], filename)
        item["outputs"] = outputs
        item["status"] = _CALL_STATUS[execution.status]
        yield self._event(
            ResponseCodeInterpreterCallCompletedEvent,
            type="response.code_interpreter_call.completed",
            **ids,
        )
        yield self._done(call)


_CALL_STATUS = {
    "completed": "completed",
    "timed_out": "incomplete",
    "killed": "failed",
    "failed": "failed",
}
"""An ``Execution``'s status -> the ``code_interpreter_call``'s."""


def _is_search(call: _Open) -> bool:
    """Whether a built-in call is a ``file_search`` (else ``code_interpreter``)."""
    return bool(call.item["type"] == "file_search_call")


def _logprob(entry: Any) -> dict[str, Any]:
    """A chat token logprob as ``output_text.logprobs`` holds it."""
    return {
        "token": entry.token,
        "bytes": list(entry.bytes or []),
        "logprob": entry.logprob,
        "top_logprobs": [
            {"token": t.token, "bytes": list(t.bytes or []), "logprob": t.logprob}
            for t in entry.top_logprobs
        ],
    }


def _delta_logprob(entry: dict[str, Any]) -> dict[str, Any]:
    """A logprob as a text delta event carries it (no bytes)."""
    return {
        "token": entry["token"],
        "logprob": entry["logprob"],
        "top_logprobs": [
            {"token": t["token"], "logprob": t["logprob"]} for t in entry["top_logprobs"]
        ],
    }
