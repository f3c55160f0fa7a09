"""``client.chat.completions.create``: non-streaming and streaming (OpenAI API reference:
Chat Completions). Responses are the official SDK's own types, so the wire shape is
OpenAI's by construction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageToolCallUnion,
    ChatCompletionTokenLogprob,
)
from openai.types.chat.chat_completion import Choice, ChoiceLogprobs
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import (
    ChoiceDelta,
    ChoiceDeltaFunctionCall,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_chunk import ChoiceLogprobs as ChunkLogprobs
from openai.types.chat.chat_completion_message import ChatCompletionMessage, FunctionCall
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)
from openai.types.chat.chat_completion_token_logprob import TopLogprob
from openai.types.completion_usage import (
    CompletionTokensDetails,
    CompletionUsage,
    PromptTokensDetails,
)

from hearth.domain import Principal
from hearth.engine.events import (
    ChoiceFinished,
    Completed,
    Failed,
    FinishReason,
    LogprobEntry,
    TokenDelta,
)
from hearth.engine.registry import ModelRegistry
from hearth.engine.remote import RemoteModel
from hearth.engine.sequence import GenerationHandle
from hearth.engine.served import ServedModel
from hearth.errors import InvalidRequest
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.chat.prepare import generation_request
from hearth.services.chat.reasoning import (
    REASONING_BUDGETS,
    Reasoned,
    Thinking,
    Thought,
    thinking_budget,
    thinking_style,
)
from hearth.services.chat.remote import (
    CallDelta,
    RemoteHandle,
    chat_body,
    checked_plan,
    counted_tokens,
    estimated_tokens,
    start_chat,
)
from hearth.services.chat.stored import StoredCompletions
from hearth.services.chat.tool_calls import (
    Arguments,
    CallStarted,
    Content,
    Piece,
    ToolCallParser,
)
from hearth.services.rate_limits import Admission, RateLimiter, admit
from hearth.services.usage import UsageMeter

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Choice:
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    logprobs: list[ChatCompletionTokenLogprob] = field(default_factory=list)
    finish_reason: FinishReason = "stop"
    calls: ToolCallParser | None = None  # an upstream's native tool calls


def _finish_reason(
    reason: FinishReason,
    parser: ToolCallParser | None,
    functions: bool = False,
) -> Literal["stop", "length", "tool_calls", "function_call"]:
    if reason == "stop" and parser and parser.calls:
        return "function_call" if functions else "tool_calls"
    return reason


def _sdk_logprob(entry: LogprobEntry) -> ChatCompletionTokenLogprob:
    return ChatCompletionTokenLogprob(
        token=entry.token,
        bytes=list(entry.bytes),
        logprob=entry.logprob,
        top_logprobs=[
            TopLogprob(token=t.token, bytes=list(t.bytes), logprob=t.logprob)
            for t in entry.top_logprobs
        ],
    )


CACHE_MIN_TOKENS = 1024
"""OpenAI reports cached tokens only for prompts of 1,024 tokens or more (platform
guide, "Prompt caching"); shorter hits still save time but report 0."""


def reported_cached_tokens(cached: int) -> int:
    """``usage.prompt_tokens_details.cached_tokens`` for ``cached`` reused prompt tokens
    (a multiple of 128): 0 below 1,024, otherwise 1,024 + 128·k."""
    return cached if cached >= CACHE_MIN_TOKENS else 0


def usage(
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
    reasoning_tokens: int | None = None,
) -> CompletionUsage:
    """The ``usage`` object for these token counts (``cached_tokens`` as the engine
    reused them; reported per OpenAI's 1,024-token rule). ``reasoning_tokens`` (a
    thinking model's, part of ``completion_tokens``) adds ``completion_tokens_details``."""
    out = CompletionUsage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        prompt_tokens_details=PromptTokensDetails(
            cached_tokens=reported_cached_tokens(cached_tokens)
        ),
    )
    if reasoning_tokens is not None:
        out.completion_tokens_details = CompletionTokensDetails(reasoning_tokens=reasoning_tokens)
    return out


def _usage(done: Completed) -> CompletionUsage:
    reasoning = done.reasoning_tokens if isinstance(done, Reasoned) else None
    return usage(done.prompt_tokens, done.completion_tokens, done.cached_tokens, reasoning)


class Cancellable(Protocol):
    """What ``Chunks`` stops: an engine handle or a ``Thinking`` generation."""

    def cancel(self) -> None: ...


Handle = GenerationHandle | Thinking | RemoteHandle
"""A submitted generation: one engine request, a thinking model's two phases, or a
request to a remote model's upstream."""


@dataclass(frozen=True)
class _Generation:
    """A submitted request: what every chunk and the completion repeat, its engine
    handle, whether its choices are parsed for tool calls (answered as the deprecated
    ``function_call`` when ``functions``), why a schema was left unenforced, and whether
    the model thinks (its messages then carry ``reasoning_content``); ``native_calls``:
    tool calls arrive as ``CallDelta`` events (an upstream's), not in the text."""

    id: str
    created: int
    model: str
    fingerprint: str
    tool_calls: bool
    handle: Handle
    functions: bool = False
    service_tier: Literal["default"] | None = None
    not_enforced: tuple[str, ...] = ()
    thinking: bool = False
    prompt_tokens: int = 0
    admission: Admission | None = None
    native_calls: bool = False


class ChatCompletions:
    """The Chat Completions use-case over a ``ModelRegistry``; with ``stored``, requests
    with ``store: true`` are kept as stored completions of the caller's project. The
    caller's organization scopes the prompt cache. ``enforce_schemas``: enforce schemas
    sent without ``strict`` where Hearth can (``HEARTH_ENFORCE_SCHEMAS``).
    ``reasoning_budgets``: thinking tokens per ``reasoning_effort`` for thinking models
    (``services/chat/reasoning.py``)."""

    def __init__(
        self,
        registry: ModelRegistry,
        stored: StoredCompletions | None = None,
        *,
        enforce_schemas: bool = True,
        reasoning_budgets: Mapping[str, int | None] = REASONING_BUDGETS,
        meter: UsageMeter | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._registry = registry
        self.stored = stored
        self._meter = meter
        self._limiter = limiter
        self.enforce_schemas = enforce_schemas
        self.reasoning_budgets = reasoning_budgets

    async def check_model(self, caller: Principal, model_id: str) -> None:
        """Raise ``ModelNotFound`` unless the caller's organization may use ``model_id``
        (a fine-tuned model is loaded by the check)."""
        await self._registry.aget(model_id, caller.organization_id)

    async def create(
        self,
        caller: Principal,
        params: ChatCompletionParams,
        not_enforced: list[str] | None = None,
    ) -> ChatCompletion:
        """Generate every choice to the end: one ``ChatCompletion`` (stored first when
        ``params.store``). Raises ``InvalidRequest`` / ``ContextLengthExceeded`` /
        ``ModelNotFound`` before generating, ``ServiceUnavailable`` when the engine is
        full or stopping. Cancelling the call (a client that left) stops generation and
        frees the sequence. ``not_enforced`` receives why a schema sent without
        ``strict`` is only a hint."""
        gen = await self._start(caller, params, stream=False)
        if not_enforced is not None:
            not_enforced += gen.not_enforced
        choices = [_Choice() for _ in range(params.n or 1)]
        done: Completed | None = None
        try:
            done = await _drain(gen.handle, choices)
        finally:
            gen.handle.cancel()
            self._record(caller, gen, done, sum(len(c.text) for c in choices))
        completion = _completion(
            gen,
            done,
            [
                _final_choice(
                    i,
                    c,
                    bool(params.logprobs),
                    gen.tool_calls,
                    gen.functions,
                    gen.thinking or bool(c.reasoning),  # an upstream may think unasked
                    gen.native_calls,
                )
                for i, c in enumerate(choices)
            ],
        )
        await self._save(caller, params, completion)
        return completion

    async def stream(
        self,
        caller: Principal,
        params: ChatCompletionParams,
        not_enforced: list[str] | None = None,
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Validate, tokenize and submit now (raising as ``create`` does, before any
        chunk), then the chunks as OpenAI streams them: a role chunk per choice, content
        and tool-call deltas (a thinking model's thinking first, as
        ``delta.reasoning_content``), a finish chunk per choice, then (``include_usage``) a
        usage chunk with no choices. Generation is cancelled when the iterator is closed early
        (a client disconnect) or never iterated. A stream that completes is stored
        (assembled, with usage) as ``create`` would store it. ``not_enforced`` as for
        ``create``."""
        gen = await self._start(caller, params)
        if not_enforced is not None:
            not_enforced += gen.not_enforced
        return Chunks([gen.handle], self._chunks(caller, params, gen))

    async def prompt_tokens(self, caller: Principal, params: ChatCompletionParams) -> int:
        """How many prompt tokens ``params`` would send to the model (template, tools and
        format instructions included), checked as ``create`` checks it; nothing is
        generated."""
        served = await self._registry.aget(params.model, caller.organization_id)
        if isinstance(served, RemoteModel):
            weights = await self._weights(served)
            if weights is None:
                raise InvalidRequest(
                    f"Counting input tokens is not available for `{served.id}`: it is "
                    "served by an upstream engine, which counts them when it answers (a "
                    "remote model that names its local `weights` is counted here).",
                    param="model",
                )
            plan = await asyncio.to_thread(
                checked_plan, params, enforce_schemas=self.enforce_schemas
            )
            return await asyncio.to_thread(counted_tokens, params, plan, weights)
        request, _ = await asyncio.to_thread(
            generation_request, params, served, enforce_schemas=self.enforce_schemas
        )
        return len(request.prompt)

    async def _start(
        self, caller: Principal, params: ChatCompletionParams, *, stream: bool = True
    ) -> _Generation:
        """Validate, tokenize and submit. Preparation (tokenizer; grammar compile: up to
        ~100 ms for a huge schema) runs off the loop. A thinking model thinks first, within
        ``reasoning_effort``'s budget. A remote model's request goes to its upstream
        (streamed there when ``stream``)."""
        served = await self._registry.aget(params.model, caller.organization_id)
        if isinstance(served, RemoteModel):
            return await self._start_remote(caller, params, served, stream)
        request, plan = await asyncio.to_thread(
            generation_request, params, served, enforce_schemas=self.enforce_schemas
        )
        request = dataclasses.replace(request, cache_scope=caller.organization_id)
        # TPM reserves the prompt and the output a request asks room for
        wanted = (params.max_completion_tokens or params.max_tokens or 0) * (params.n or 1)
        admission = await admit(self._limiter, caller, served.id, len(request.prompt) + wanted)
        style = thinking_style(served.info.chat_template)
        handle: Handle
        try:
            if style is None:
                handle = served.generate(request)
            else:
                budget = thinking_budget(params.reasoning_effort, self.reasoning_budgets)
                handle = Thinking(served, request, style, budget)
        except BaseException:
            if admission is not None:  # refused by the engine: no tokens were used
                admission.settle_soon(0)
            raise
        return _Generation(
            f"chatcmpl-{secrets.token_urlsafe(21)}",
            int(time.time()),
            served.id,
            served.info.fingerprint,
            plan.tool_calls,
            handle,
            plan.functions,
            # the tier that served it, as OpenAI reports when the request names one
            "default" if params.service_tier else None,
            plan.not_enforced,
            style is not None,
            len(request.prompt),
            admission,
        )

    async def _weights(self, served: RemoteModel) -> ServedModel | None:
        """The local model with ``served``'s weights (``RemoteModelConfig.weights``), whose
        template and tokenizer count its prompts; None if it names none."""
        name = served.config.weights
        return None if name is None else await self._registry.aget(name)

    async def _start_remote(
        self, caller: Principal, params: ChatCompletionParams, served: RemoteModel, stream: bool
    ) -> _Generation:
        """Check as for a local model, admit (the prompt counted with the model's local
        ``weights``, else estimated; the upstream's ``usage`` settles it), then send
        upstream (``services/chat/remote.py``)."""
        plan = await asyncio.to_thread(checked_plan, params, enforce_schemas=self.enforce_schemas)
        body = chat_body(
            params,
            served,
            caller.organization_id,
            stream=stream,
            enforce_schemas=self.enforce_schemas,
        )
        weights = await self._weights(served)
        if weights is None:
            prompt = estimated_tokens(body["messages"]) + estimated_tokens(body.get("tools", ""))
        else:
            prompt = await asyncio.to_thread(counted_tokens, params, plan, weights)
        wanted = (params.max_completion_tokens or params.max_tokens or 0) * (params.n or 1)
        admission = await admit(self._limiter, caller, served.id, prompt + wanted)
        try:
            handle = await start_chat(served, body, prompt)
        except BaseException:
            if admission is not None:  # refused upstream: no tokens were used
                admission.settle_soon(0)
            raise
        return _Generation(
            f"chatcmpl-{secrets.token_urlsafe(21)}",
            int(time.time()),
            served.id,
            served.info.fingerprint,
            plan.tool_calls,
            handle,
            plan.functions,
            "default" if params.service_tier else None,
            plan.not_enforced,
            False,
            prompt,
            admission,
            native_calls=True,
        )

    async def _chunks(
        self, caller: Principal, params: ChatCompletionParams, gen: _Generation
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        usage_on = bool(params.stream_options and params.stream_options.include_usage)
        logprobs_on = bool(params.logprobs)
        n = params.n or 1
        parsers = [ToolCallParser() if gen.tool_calls else None for _ in range(n)]
        assembled = [_Choice() for _ in range(n)]  # content only, no call text

        def chunk(
            choices: list[ChunkChoice],
            usage: CompletionUsage | None = None,
        ) -> ChatCompletionChunk:
            out = ChatCompletionChunk(
                id=gen.id,
                object="chat.completion.chunk",
                created=gen.created,
                model=gen.model,
                system_fingerprint=gen.fingerprint,
                choices=choices,
            )
            if gen.service_tier:  # as OpenAI: only when the request named a tier
                out.service_tier = gen.service_tier
            if usage_on:  # OpenAI sends "usage": null on every chunk but the last
                out.usage = usage
            return out

        handle = gen.handle
        done: Completed | None = None
        deltas = 0
        try:
            for i in range(n):
                yield chunk(
                    [
                        ChunkChoice(
                            index=i,
                            delta=ChoiceDelta(role="assistant", content="", refusal=None),
                            logprobs=None,
                            finish_reason=None,
                        )
                    ]
                )
            while True:
                event = await handle.next()
                if isinstance(event, Thought):
                    assembled[event.choice].reasoning.append(event.text)
                    yield chunk(
                        [
                            ChunkChoice(
                                index=event.choice,
                                delta=_reasoning_delta(event.text),
                                logprobs=None,
                                finish_reason=None,
                            )
                        ]
                    )
                elif isinstance(event, TokenDelta):
                    deltas += 1
                    entries = [_sdk_logprob(e) for e in event.logprobs]
                    assembled[event.choice].logprobs += entries
                    lp = ChunkLogprobs(content=entries, refusal=None) if logprobs_on else None
                    parser = parsers[event.choice]
                    pieces: list[Piece] = (
                        parser.feed(event.text)
                        if parser and not gen.native_calls
                        else [Content(event.text)]
                    )
                    assembled[event.choice].text += [
                        p.text for p in pieces if isinstance(p, Content)
                    ]
                    for delta in _deltas(pieces, gen.functions):
                        yield chunk(
                            [
                                ChunkChoice(
                                    index=event.choice, delta=delta, logprobs=lp, finish_reason=None
                                )
                            ]
                        )
                        lp = None
                elif isinstance(event, CallDelta):
                    deltas += 1
                    parser = parsers[event.choice]
                    if parser is not None:
                        parser.record(event.piece)
                    for delta in _deltas([event.piece], gen.functions):
                        yield chunk(
                            [
                                ChunkChoice(
                                    index=event.choice,
                                    delta=delta,
                                    logprobs=None,
                                    finish_reason=None,
                                )
                            ]
                        )
                elif isinstance(event, ChoiceFinished):
                    assembled[event.choice].finish_reason = event.finish_reason
                    reason = _finish_reason(
                        event.finish_reason, parsers[event.choice], gen.functions
                    )
                    yield chunk(
                        [
                            ChunkChoice(
                                index=event.choice,
                                delta=ChoiceDelta(),
                                logprobs=None,
                                finish_reason=reason,
                            )
                        ]
                    )
                elif isinstance(event, Completed):
                    done = event
                    await self._save(
                        caller,
                        params,
                        _completion(
                            gen,
                            event,
                            [
                                _choice(
                                    i,
                                    "".join(c.text),
                                    c,
                                    parsers[i],
                                    logprobs_on,
                                    gen.functions,
                                    gen.thinking,
                                )
                                for i, c in enumerate(assembled)
                            ],
                        ),
                    )
                    if usage_on:
                        yield chunk([], _usage(event))
                    return
                elif isinstance(event, Failed):
                    raise event.error
        finally:
            handle.cancel()
            self._record(caller, gen, done, deltas)

    def _record(
        self, caller: Principal, gen: _Generation, done: Completed | None, deltas: int
    ) -> None:
        """Count the request's usage: the ``usage`` it reported, or for one that ended
        early (the client left, an error) its prompt and the text pieces sent (one per
        token but where several tokens make one character); settle its rate-limit
        reservation."""
        if gen.admission is not None:
            used = (done.prompt_tokens + done.completion_tokens) if done else gen.prompt_tokens
            gen.admission.settle_soon(used + (0 if done else deltas))
        if self._meter is None:
            return
        if done is None:
            self._meter.record(
                caller,
                "completions",
                gen.model,
                input_tokens=gen.prompt_tokens,
                output_tokens=deltas,
            )
            return
        self._meter.record(
            caller,
            "completions",
            gen.model,
            input_tokens=done.prompt_tokens,
            input_cached_tokens=reported_cached_tokens(done.cached_tokens),
            output_tokens=done.completion_tokens,
        )

    async def _save(
        self, caller: Principal, params: ChatCompletionParams, completion: ChatCompletion
    ) -> None:
        """Store ``completion`` when asked to. A storage failure is logged, never raised:
        the caller still gets the completion it paid for."""
        if not params.store or self.stored is None:
            return
        try:
            await self.stored.save(caller, params, completion)
        except Exception:
            log.exception(
                "could not store chat completion %s for project %s",
                completion.id,
                caller.project_id,
            )


class Chunks(AsyncIterator[T]):
    """A streamed generation's iterator: ``chunks``' items; ``aclose`` (also before the
    first chunk, where closing a generator would run none of its code) cancels every one
    of ``handles``, and so does dropping it unread."""

    def __init__(self, handles: Sequence[Cancellable], chunks: AsyncGenerator[T, None]) -> None:
        self._handles = handles
        self._chunks = chunks

    async def __anext__(self) -> T:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        """Stop: cancel the generation and close the generator."""
        self._cancel()
        await self._chunks.aclose()

    def _cancel(self) -> None:
        for handle in self._handles:
            handle.cancel()

    def __del__(self) -> None:  # dropped unread: free the sequences' KV cells now
        self._cancel()


def _completion(gen: _Generation, done: Completed, choices: list[Choice]) -> ChatCompletion:
    out = ChatCompletion(
        id=gen.id,
        object="chat.completion",
        created=gen.created,
        model=gen.model,
        system_fingerprint=gen.fingerprint,
        usage=_usage(done),
        choices=choices,
    )
    if gen.service_tier:  # as OpenAI: only when the request named a tier
        out.service_tier = gen.service_tier
    return out


async def _drain(handle: Handle, choices: list[_Choice]) -> Completed:
    while True:
        event = await handle.next()
        if isinstance(event, Thought):
            choices[event.choice].reasoning.append(event.text)
        elif isinstance(event, TokenDelta):
            choices[event.choice].text.append(event.text)
            choices[event.choice].logprobs += [_sdk_logprob(e) for e in event.logprobs]
        elif isinstance(event, CallDelta):
            found = choices[event.choice]
            found.calls = found.calls or ToolCallParser()
            found.calls.record(event.piece)
        elif isinstance(event, ChoiceFinished):
            choices[event.choice].finish_reason = event.finish_reason
        elif isinstance(event, Completed):
            return event
        elif isinstance(event, Failed):
            raise event.error


def _reasoning_delta(text: str) -> ChoiceDelta:
    """A delta of thinking: ``reasoning_content``, Hearth's extension field (vLLM's and
    llama.cpp's name for it; the SDK's types keep fields they do not declare)."""
    return ChoiceDelta.model_validate({"reasoning_content": text})


def _deltas(pieces: list[Piece], functions: bool = False) -> list[ChoiceDelta]:
    """Stream deltas as OpenAI sends them: a call's id and name first (arguments ""),
    then argument fragments; with ``functions``, as ``delta.function_call`` (name and
    arguments "", then argument fragments)."""
    out = []
    for piece in pieces:
        if isinstance(piece, Content):
            out.append(ChoiceDelta(content=piece.text))
        elif functions and isinstance(piece, CallStarted):
            out.append(
                ChoiceDelta(function_call=ChoiceDeltaFunctionCall(name=piece.name, arguments=""))
            )
        elif functions and isinstance(piece, Arguments):
            out.append(ChoiceDelta(function_call=ChoiceDeltaFunctionCall(arguments=piece.text)))
        elif isinstance(piece, CallStarted):
            out.append(
                ChoiceDelta(
                    tool_calls=[
                        ChoiceDeltaToolCall(
                            index=piece.index,
                            id=piece.id,
                            type="function",
                            function=ChoiceDeltaToolCallFunction(name=piece.name, arguments=""),
                        )
                    ]
                )
            )
        elif isinstance(piece, Arguments):
            out.append(
                ChoiceDelta(
                    tool_calls=[
                        ChoiceDeltaToolCall(
                            index=piece.index,
                            function=ChoiceDeltaToolCallFunction(arguments=piece.text),
                        )
                    ]
                )
            )
    return out


def _final_choice(
    index: int,
    choice: _Choice,
    logprobs: bool,
    tool_calls: bool,
    functions: bool,
    thinking: bool = False,
    native_calls: bool = False,
) -> Choice:
    text = "".join(choice.text)
    if native_calls:  # the upstream answered its calls apart from the text
        calls = choice.calls or (ToolCallParser() if tool_calls else None)
        return _choice(index, text, choice, calls, logprobs, functions, thinking)
    parser = ToolCallParser() if tool_calls else None
    if parser is not None:
        text = "".join(p.text for p in parser.feed(text) if isinstance(p, Content))
    return _choice(index, text, choice, parser, logprobs, functions, thinking)


def _choice(
    index: int,
    text: str,
    choice: _Choice,
    parser: ToolCallParser | None,
    logprobs: bool,
    functions: bool = False,
    thinking: bool = False,
) -> Choice:
    """A finished choice: ``text`` is its content (call blocks already taken out by
    ``parser``, whose calls keep the ids a stream sent); with ``functions`` its one call
    is the deprecated ``message.function_call``; with ``thinking`` the message carries
    ``reasoning_content`` (Hearth's extension field; "" when the model did not think)."""
    found = parser.calls if parser else []
    legacy = (
        FunctionCall(name=found[0].name, arguments=found[0].arguments)
        if functions and found
        else None
    )
    calls: list[ChatCompletionMessageToolCallUnion] = [
        ChatCompletionMessageFunctionToolCall(
            id=c.id, type="function", function=Function(name=c.name, arguments=c.arguments)
        )
        for c in ([] if functions else found)
    ]
    message = ChatCompletionMessage(
        role="assistant", content=None if found else text, refusal=None, tool_calls=calls or None
    )
    if legacy is not None:  # absent otherwise, as OpenAI sends it
        message.function_call = legacy
    if thinking:
        message = message.model_copy(update={"reasoning_content": "".join(choice.reasoning)})
    return Choice(
        index=index,
        finish_reason=_finish_reason(choice.finish_reason, parser, functions),
        message=message,
        logprobs=ChoiceLogprobs(content=choice.logprobs, refusal=None) if logprobs else None,
    )
