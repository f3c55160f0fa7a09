"""``client.chat.completions.create``: non-streaming and streaming (OpenAI API reference:
Chat Completions). Responses are the official SDK's own types, so the wire shape is
OpenAI's by construction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

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
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_chunk import ChoiceLogprobs as ChunkLogprobs
from openai.types.chat.chat_completion_message import ChatCompletionMessage
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)
from openai.types.chat.chat_completion_token_logprob import TopLogprob
from openai.types.completion_usage import CompletionUsage, PromptTokensDetails

from hearth.engine.events import (
    ChoiceFinished,
    Completed,
    Failed,
    FinishReason,
    LogprobEntry,
    TokenDelta,
)
from hearth.engine.registry import ModelRegistry
from hearth.engine.sequence import GenerationHandle
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.chat.prepare import generation_request
from hearth.services.chat.tool_calls import (
    Arguments,
    CallStarted,
    Content,
    Piece,
    ToolCallParser,
)


@dataclass
class _Meta:
    id: str
    created: int
    model: str
    fingerprint: str
    tool_calls: bool = False


@dataclass
class _Choice:
    text: list[str] = field(default_factory=list)
    logprobs: list[ChatCompletionTokenLogprob] = field(default_factory=list)
    finish_reason: FinishReason = "stop"


def _finish_reason(reason: FinishReason, parser: ToolCallParser | None,
                   ) -> Literal["stop", "length", "tool_calls"]:
    return "tool_calls" if reason == "stop" and parser and parser.calls else reason


def _sdk_logprob(entry: LogprobEntry) -> ChatCompletionTokenLogprob:
    return ChatCompletionTokenLogprob(
        token=entry.token, bytes=list(entry.bytes), logprob=entry.logprob,
        top_logprobs=[TopLogprob(token=t.token, bytes=list(t.bytes), logprob=t.logprob)
                      for t in entry.top_logprobs])


CACHE_MIN_TOKENS = 1024
"""OpenAI reports cached tokens only for prompts of 1,024 tokens or more (platform
guide, "Prompt caching"); shorter hits still save time but report 0."""


def reported_cached_tokens(cached: int) -> int:
    """``usage.prompt_tokens_details.cached_tokens`` for ``cached`` reused prompt tokens
    (a multiple of 128): 0 below 1,024, otherwise 1,024 + 128·k."""
    return cached if cached >= CACHE_MIN_TOKENS else 0


def _usage(done: Completed) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens,
        total_tokens=done.prompt_tokens + done.completion_tokens,
        prompt_tokens_details=PromptTokensDetails(
            cached_tokens=reported_cached_tokens(done.cached_tokens)))


class ChatCompletions:
    """The Chat Completions use-case over a ``ModelRegistry``."""

    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry

    async def start(self, params: ChatCompletionParams, organization_id: str,
                    ) -> tuple[_Meta, GenerationHandle]:
        """Validate, tokenize and submit; raises ``InvalidRequest``/``ModelNotFound``.
        Preparation (grammar compile: up to ~100 ms for a huge schema) runs off the loop.
        Prompt-cache entries are shared within ``organization_id`` only."""
        served = self._registry.get(params.model)
        request, plan = await asyncio.to_thread(
            generation_request, params, served.runner, served.grammars)
        request = dataclasses.replace(request, cache_scope=organization_id)
        handle = served.scheduler.submit(request)
        meta = _Meta(f"chatcmpl-{secrets.token_urlsafe(21)}", int(time.time()), served.id,
                     served.runner.info.fingerprint, plan.tool_calls)
        return meta, handle

    async def create(self, params: ChatCompletionParams, organization_id: str,
                     ) -> ChatCompletion:
        """Generate every choice to the end; one ``ChatCompletion``."""
        meta, handle = await self.start(params, organization_id)
        choices = [_Choice() for _ in range(params.n or 1)]
        try:
            done = await _drain(handle, choices)
        finally:
            handle.cancel()
        return ChatCompletion(
            id=meta.id, object="chat.completion", created=meta.created, model=meta.model,
            system_fingerprint=meta.fingerprint, usage=_usage(done),
            choices=[_final_choice(i, c, bool(params.logprobs), meta.tool_calls)
                     for i, c in enumerate(choices)])

    async def stream(self, meta: _Meta, handle: GenerationHandle, params: ChatCompletionParams,
                     ) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks as OpenAI streams them: a role chunk per choice, content deltas, a
        finish chunk per choice, then (``include_usage``) a usage chunk with no choices.
        Cancels generation if the consumer stops early (client disconnect)."""
        usage_on = bool(params.stream_options and params.stream_options.include_usage)
        logprobs_on = bool(params.logprobs)
        parsers = [ToolCallParser() if meta.tool_calls else None for _ in range(params.n or 1)]

        def chunk(choices: list[ChunkChoice], usage: CompletionUsage | None = None,
                  ) -> ChatCompletionChunk:
            out = ChatCompletionChunk(
                id=meta.id, object="chat.completion.chunk", created=meta.created,
                model=meta.model, system_fingerprint=meta.fingerprint, choices=choices)
            if usage_on:  # OpenAI sends "usage": null on every chunk but the last
                out.usage = usage
            return out

        try:
            for i in range(params.n or 1):
                yield chunk([ChunkChoice(index=i, delta=ChoiceDelta(
                    role="assistant", content="", refusal=None), logprobs=None,
                    finish_reason=None)])
            while True:
                event = await handle.next()
                if isinstance(event, TokenDelta):
                    lp = (ChunkLogprobs(content=[_sdk_logprob(e) for e in event.logprobs],
                                        refusal=None) if logprobs_on else None)
                    parser = parsers[event.choice]
                    pieces: list[Piece] = parser.feed(event.text) if parser else [
                        Content(event.text)]
                    for delta in _deltas(pieces):
                        yield chunk([ChunkChoice(index=event.choice, delta=delta,
                                                 logprobs=lp, finish_reason=None)])
                        lp = None
                elif isinstance(event, ChoiceFinished):
                    reason = _finish_reason(event.finish_reason, parsers[event.choice])
                    yield chunk([ChunkChoice(index=event.choice, delta=ChoiceDelta(),
                                             logprobs=None, finish_reason=reason)])
                elif isinstance(event, Completed):
                    if usage_on:
                        yield chunk([], _usage(event))
                    return
                else:
                    raise event.error
        finally:
            handle.cancel()


async def _drain(handle: GenerationHandle, choices: list[_Choice]) -> Completed:
    while True:
        event = await handle.next()
        if isinstance(event, TokenDelta):
            choices[event.choice].text.append(event.text)
            choices[event.choice].logprobs += [_sdk_logprob(e) for e in event.logprobs]
        elif isinstance(event, ChoiceFinished):
            choices[event.choice].finish_reason = event.finish_reason
        elif isinstance(event, Completed):
            return event
        elif isinstance(event, Failed):
            raise event.error


def _deltas(pieces: list[Piece]) -> list[ChoiceDelta]:
    """Stream deltas as OpenAI sends them: a call's id and name first (arguments ""),
    then argument fragments."""
    out = []
    for piece in pieces:
        if isinstance(piece, Content):
            out.append(ChoiceDelta(content=piece.text))
        elif isinstance(piece, CallStarted):
            out.append(ChoiceDelta(tool_calls=[ChoiceDeltaToolCall(
                index=piece.index, id=piece.id, type="function",
                function=ChoiceDeltaToolCallFunction(name=piece.name, arguments=""))]))
        elif isinstance(piece, Arguments):
            out.append(ChoiceDelta(tool_calls=[ChoiceDeltaToolCall(
                index=piece.index, function=ChoiceDeltaToolCallFunction(arguments=piece.text))]))
    return out


def _final_choice(index: int, choice: _Choice, logprobs: bool, tool_calls: bool) -> Choice:
    text = "".join(choice.text)
    parser = ToolCallParser() if tool_calls else None
    calls: list[ChatCompletionMessageToolCallUnion] = []
    if parser is not None:
        text = "".join(p.text for p in parser.feed(text) if isinstance(p, Content))
        calls = [ChatCompletionMessageFunctionToolCall(
            id=c.id, type="function", function=Function(name=c.name, arguments=c.arguments))
            for c in parser.calls]
    return Choice(
        index=index, finish_reason=_finish_reason(choice.finish_reason, parser),
        message=ChatCompletionMessage(role="assistant", content=None if calls else text,
                                      refusal=None, tool_calls=calls or None),
        logprobs=ChoiceLogprobs(content=choice.logprobs, refusal=None) if logprobs else None)
