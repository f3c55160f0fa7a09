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
from hearth.services.chat.stored import StoredCompletions
from hearth.services.chat.tool_calls import (
    Arguments,
    CallStarted,
    Content,
    Piece,
    ToolCallParser,
)

log = logging.getLogger(__name__)


@dataclass
class _Meta:
    id: str
    created: int
    model: str
    fingerprint: str
    tool_calls: bool = False
    project_id: str | None = None


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
    """The Chat Completions use-case over a ``ModelRegistry``; with ``stored``, requests
    with ``store: true`` and a project are kept as stored completions."""

    def __init__(self, registry: ModelRegistry, stored: StoredCompletions | None = None,
                 ) -> None:
        self._registry = registry
        self.stored = stored

    async def check_model(self, model_id: str, organization_id: str) -> None:
        """Raise ``ModelNotFound`` unless ``organization_id`` may use ``model_id`` (a
        fine-tuned model is loaded by the check)."""
        await self._registry.aget(model_id, organization_id)

    async def start(self, params: ChatCompletionParams, organization_id: str,
                    project_id: str | None = None) -> tuple[_Meta, GenerationHandle]:
        """Validate, tokenize and submit; raises ``InvalidRequest``/``ModelNotFound``.
        Preparation (grammar compile: up to ~100 ms for a huge schema) runs off the loop.
        Prompt-cache entries are shared within ``organization_id`` only; ``project_id``
        (kept on the returned meta) owns the stored completion when ``params.store``."""
        served = await self._registry.aget(params.model, organization_id)
        request, plan = await asyncio.to_thread(
            generation_request, params, served.runner, served.grammars)
        request = dataclasses.replace(request, cache_scope=organization_id)
        handle = served.scheduler.submit(request)
        meta = _Meta(f"chatcmpl-{secrets.token_urlsafe(21)}", int(time.time()), served.id,
                     served.runner.info.fingerprint, plan.tool_calls, project_id)
        return meta, handle

    async def create(self, params: ChatCompletionParams, organization_id: str,
                     project_id: str | None = None) -> ChatCompletion:
        """Generate every choice to the end; one ``ChatCompletion`` (stored first when
        ``params.store`` and ``project_id`` are given)."""
        meta, handle = await self.start(params, organization_id, project_id)
        choices = [_Choice() for _ in range(params.n or 1)]
        try:
            done = await _drain(handle, choices)
        finally:
            handle.cancel()
        completion = _completion(meta, done, [
            _final_choice(i, c, bool(params.logprobs), meta.tool_calls)
            for i, c in enumerate(choices)])
        await self._save(meta, params, completion)
        return completion

    async def stream(self, meta: _Meta, handle: GenerationHandle, params: ChatCompletionParams,
                     ) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks as OpenAI streams them: a role chunk per choice, content deltas, a
        finish chunk per choice, then (``include_usage``) a usage chunk with no choices.
        Cancels generation if the consumer stops early (client disconnect). A stream
        that completes is stored (assembled, with usage) as ``create`` would store it."""
        usage_on = bool(params.stream_options and params.stream_options.include_usage)
        logprobs_on = bool(params.logprobs)
        parsers = [ToolCallParser() if meta.tool_calls else None for _ in range(params.n or 1)]
        assembled = [_Choice() for _ in range(params.n or 1)]  # content only, no call text

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
                    entries = [_sdk_logprob(e) for e in event.logprobs]
                    assembled[event.choice].logprobs += entries
                    lp = ChunkLogprobs(content=entries, refusal=None) if logprobs_on else None
                    parser = parsers[event.choice]
                    pieces: list[Piece] = parser.feed(event.text) if parser else [
                        Content(event.text)]
                    assembled[event.choice].text += [
                        p.text for p in pieces if isinstance(p, Content)]
                    for delta in _deltas(pieces):
                        yield chunk([ChunkChoice(index=event.choice, delta=delta,
                                                 logprobs=lp, finish_reason=None)])
                        lp = None
                elif isinstance(event, ChoiceFinished):
                    assembled[event.choice].finish_reason = event.finish_reason
                    reason = _finish_reason(event.finish_reason, parsers[event.choice])
                    yield chunk([ChunkChoice(index=event.choice, delta=ChoiceDelta(),
                                             logprobs=None, finish_reason=reason)])
                elif isinstance(event, Completed):
                    await self._save(meta, params, _completion(meta, event, [
                        _choice(i, "".join(c.text), c, parsers[i], logprobs_on)
                        for i, c in enumerate(assembled)]))
                    if usage_on:
                        yield chunk([], _usage(event))
                    return
                else:
                    raise event.error
        finally:
            handle.cancel()

    async def _save(self, meta: _Meta, params: ChatCompletionParams,
                    completion: ChatCompletion) -> None:
        """Store ``completion`` off the event loop when asked to. A storage failure is
        logged, never raised: the caller still gets the completion it paid for."""
        if not params.store or meta.project_id is None or self.stored is None:
            return
        request = params.model_dump(mode="json", exclude_unset=True, by_alias=True)
        try:
            await asyncio.to_thread(
                self.stored.save, meta.project_id, request,
                completion.model_dump(mode="json", exclude_unset=True), params.metadata or {})
        except Exception:
            log.exception("could not store chat completion %s for project %s",
                          meta.id, meta.project_id)


def _completion(meta: _Meta, done: Completed, choices: list[Choice]) -> ChatCompletion:
    return ChatCompletion(
        id=meta.id, object="chat.completion", created=meta.created, model=meta.model,
        system_fingerprint=meta.fingerprint, usage=_usage(done), choices=choices)


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
    if parser is not None:
        text = "".join(p.text for p in parser.feed(text) if isinstance(p, Content))
    return _choice(index, text, choice, parser, logprobs)


def _choice(index: int, text: str, choice: _Choice, parser: ToolCallParser | None,
            logprobs: bool) -> Choice:
    """A finished choice: ``text`` is its content (call blocks already taken out by
    ``parser``, whose calls keep the ids a stream sent)."""
    calls: list[ChatCompletionMessageToolCallUnion] = [
        ChatCompletionMessageFunctionToolCall(
            id=c.id, type="function", function=Function(name=c.name, arguments=c.arguments))
        for c in (parser.calls if parser else [])]
    return Choice(
        index=index, finish_reason=_finish_reason(choice.finish_reason, parser),
        message=ChatCompletionMessage(role="assistant", content=None if calls else text,
                                      refusal=None, tool_calls=calls or None),
        logprobs=ChoiceLogprobs(content=choice.logprobs, refusal=None) if logprobs else None)
