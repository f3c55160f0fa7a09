"""Chat Completions on a model served by an upstream (``engine/remote.py``): the request
as the upstream reads it, and its answer as the engine's events, so that the chat
service builds chunks, completions, usage and stored completions exactly as for a local
model (docs/remote-engines.md).

Hearth checks the request as for a local model first (the same 400s: tool choice,
JSON mode, strict schemas llguidance cannot enforce), then hands the API semantics to the
upstream: tools as ``tools`` (its tool parser answers ``tool_calls``), a JSON Schema in
the upstream's own parameter (vLLM ``structured_outputs.json``, llama-server
``json_schema``, else ``response_format``), vLLM's ``cache_salt`` per organization.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import httpx2
from llguidance import LLMatcher

from hearth.engine.constraints import JSON_OPTIONS, Grammar, GrammarError
from hearth.engine.events import (
    ChoiceFinished,
    Completed,
    Event,
    Failed,
    FinishReason,
    LogprobEntry,
    TokenDelta,
    TopLogprob,
)
from hearth.engine.remote import RemoteModel, upstream_error
from hearth.engine.served import ServedModel
from hearth.errors import HearthError, ServiceUnavailable
from hearth.services.chat.params import ChatCompletionParams, NamedToolChoice
from hearth.services.chat.prepare import conversation_rows, prompt_tokens, with_instructions
from hearth.services.chat.reasoning import Thought
from hearth.services.chat.structured import OutputPlan, legacy_functions, plan_output
from hearth.services.chat.tool_calls import Arguments, CallStarted, new_call_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallDelta:
    """A piece of an upstream's native tool call in choice ``choice``: the call's start
    (Hearth's own call id, the name) or a fragment of its arguments."""

    choice: int
    piece: CallStarted | Arguments


RemoteEvent = Event | Thought | CallDelta


class _Checker:
    """Checks grammars as the local compiler would (llguidance, no vocabulary), so a
    remote model refuses what a local one refuses; nothing is compiled for decoding."""

    def compile_grammar(
        self, *, json_schema: dict[str, Any] | None = None, lark: str | None = None
    ) -> Grammar:
        if json_schema is not None:
            source = LLMatcher.grammar_from_json_schema(
                json_schema, defaults=cast(Any, JSON_OPTIONS)
            )
        else:
            source = LLMatcher.grammar_from_lark(lark or "")
        problem = LLMatcher.validate_grammar(source)
        if problem:
            raise GrammarError(problem)
        # only checked: the plan's grammar is never used to generate
        return Grammar.__new__(Grammar)


def checked_plan(params: ChatCompletionParams, *, enforce_schemas: bool) -> OutputPlan:
    """Validate ``params`` as for a local model (raises ``InvalidRequest``); the plan
    says whether choices carry tool calls. Blocking (schema checks): run off the loop."""
    texts = [m.content if isinstance(m.content, str) else "" for m in params.messages]
    for m in params.messages:
        if isinstance(m.content, list):
            texts += [str(p.get("text", "")) for p in m.content if isinstance(p, dict)]
    return plan_output(params, _Checker(), texts, enforce_schemas=enforce_schemas)


def _schema(params: ChatCompletionParams, enforce_schemas: bool) -> dict[str, Any] | None:
    """The JSON Schema the upstream should enforce, where Hearth would enforce one."""
    fmt = params.response_format
    if fmt is None or fmt.type != "json_schema" or fmt.json_schema is None:
        return None
    if not fmt.json_schema.strict and not enforce_schemas:
        return None
    return fmt.json_schema.schema_ or {}


def counted_tokens(params: ChatCompletionParams, plan: OutputPlan, weights: ServedModel) -> int:
    """The prompt's tokens as ``weights`` (the local model with the upstream's weights,
    ``RemoteModelConfig.weights``) renders them: the messages through its chat template,
    tools and formats as Hearth's own instructions (the upstream's tool prompt may differ by
    a few tokens). Not checked against the local context: the upstream's is its own.
    Blocking (tokenizer): run off the loop."""
    rows = conversation_rows(params.messages)
    return len(prompt_tokens(weights, with_instructions(rows, plan.instructions)))


def estimated_tokens(value: Any) -> int:
    """A request's prompt size before the upstream counts it (about 4 characters per
    token): what rate limits reserve, and what usage counts for a request that ends
    before the upstream reports its ``usage``."""
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4)


SAMPLING: set[str] = {
    "temperature",
    "top_p",
    "n",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
}
"""Sampling parameters an upstream reads as they are, in chat and legacy completions."""

_PASSED = SAMPLING | {"top_logprobs", "parallel_tool_calls", "reasoning_effort"}
"""Chat parameters the upstream reads as they are (when set)."""


def chat_body(
    params: ChatCompletionParams,
    served: RemoteModel,
    organization_id: str,
    *,
    stream: bool,
    enforce_schemas: bool = True,
) -> dict[str, Any]:
    """The upstream's ``POST /chat/completions`` body for ``params``."""
    params = legacy_functions(params)
    body: dict[str, Any] = {
        "model": served.upstream_model,
        "messages": [m.model_dump(exclude_none=True, by_alias=True) for m in params.messages],
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    body.update(params.model_dump(include=_PASSED, exclude_none=True))
    wanted = params.max_completion_tokens or params.max_tokens
    if wanted is not None:
        body["max_tokens"] = wanted
    tools = params.tools or []
    choice = params.tool_choice
    if isinstance(choice, NamedToolChoice) and served.flavor == "llama-server":
        # llama-server takes only "auto" / "none" / "required": the named tool, required
        tools = [t for t in tools if t.function.name == choice.function.name]
        body["tool_choice"] = "required"
    elif choice is not None:
        body["tool_choice"] = choice if isinstance(choice, str) else choice.model_dump()
    if tools:
        body["tools"] = [t.model_dump(exclude_none=True) for t in tools]
    fmt = params.response_format
    schema = _schema(params, enforce_schemas)
    if served.flavor == "vllm":
        body["cache_salt"] = served.cache_salt(organization_id)
        if schema is not None:
            body["structured_outputs"] = {"json": schema}
        elif fmt is not None and fmt.type == "json_object":
            body["structured_outputs"] = {"json_object": True}
    elif served.flavor == "llama-server":
        if schema is not None:
            body["json_schema"] = schema
        elif fmt is not None and fmt.type == "json_object":
            body["response_format"] = {"type": "json_object"}
    elif served.flavor == "llama-cpp-python":
        if schema is not None:
            body["response_format"] = {"type": "json_object", "schema": schema}
        elif fmt is not None and fmt.type == "json_object":
            body["response_format"] = {"type": "json_object"}
    elif fmt is not None:
        body["response_format"] = fmt.model_dump(exclude_none=True, by_alias=True)
    return body


class RemoteHandle:
    """The asyncio side of one upstream request, as a generation handle: ``next()``
    yields ``RemoteEvent``s; ``cancel()`` closes the upstream connection (vLLM and
    llama-server then stop generating)."""

    def __init__(self, served: RemoteModel, events: AsyncIterator[RemoteEvent]) -> None:
        self._queue: asyncio.Queue[RemoteEvent] = asyncio.Queue()
        served.started()
        self._task = asyncio.create_task(self._pump(served, events))

    async def next(self) -> RemoteEvent:
        """The next event (``Failed`` carries an upstream error)."""
        return await self._queue.get()

    def cancel(self) -> None:
        """Stop reading and close the upstream response (idempotent)."""
        if not self._task.done():
            with contextlib.suppress(RuntimeError):  # dropped after its loop closed
                self._task.cancel()

    async def _pump(self, served: RemoteModel, events: AsyncIterator[RemoteEvent]) -> None:
        try:
            async for event in events:
                self._queue.put_nowait(event)
        except HearthError as exc:
            self._queue.put_nowait(Failed(exc))
        except httpx2.HTTPError as exc:
            self._queue.put_nowait(Failed(_broken(served, exc)))
        except Exception as exc:  # a malformed answer: the consumer gets a 503, not a hang
            log.exception("unreadable answer from the upstream of %s", served.id)
            self._queue.put_nowait(Failed(_broken(served, exc)))
        finally:
            served.ended()


def _broken(served: RemoteModel, exc: BaseException) -> ServiceUnavailable:
    code = "upstream_timeout" if isinstance(exc, httpx2.TimeoutException) else "upstream_error"
    return ServiceUnavailable(
        f"The upstream engine of `{served.id}` broke off its answer ({type(exc).__name__}).",
        code=code,
    )


async def start_chat(served: RemoteModel, body: dict[str, Any], prompt: int = 0) -> RemoteHandle:
    """Send ``body`` upstream and return its handle once the upstream has accepted it
    (streamed: its headers arrived; else: its whole answer). Raises the mapped
    ``HearthError`` (unreachable: 503; a 4xx: the same status). ``prompt``: the prompt
    tokens to report if the upstream reports no usage (estimated)."""
    if body.get("stream"):
        response = await served.open("chat/completions", body)
        events = _streamed_chat(served, response, body.get("n") or 1, prompt)
        return RemoteHandle(served, events)
    served.started()
    try:
        data = await served.post("chat/completions", body)
    finally:
        served.ended()
    return RemoteHandle(served, _answered_chat(data))


async def sse_data(served: RemoteModel, response: httpx2.Response) -> AsyncGenerator[Any, None]:
    """The JSON ``data:`` payloads of an upstream's server-sent events until
    ``[DONE]``; an ``error`` payload raises the mapped error. Closes the response."""
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            payload = json.loads(data)
            if isinstance(payload, dict) and "error" in payload and "choices" not in payload:
                error = payload["error"]
                status = error.get("code") if isinstance(error, dict) else None
                raise upstream_error(
                    served.id,
                    status if isinstance(status, int) else 500,
                    json.dumps(payload).encode(),
                )
            yield payload
    finally:
        await response.aclose()


def _finish(reason: Any) -> FinishReason:
    # tool_calls / function_call end a choice as "stop": the chat service reports them
    return "length" if reason == "length" else "stop"


def _entries(logprobs: Any) -> tuple[LogprobEntry, ...]:
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    out = []
    for e in content or ():
        tops = tuple(
            TopLogprob(t["token"], tuple(t.get("bytes") or t["token"].encode()), t["logprob"])
            for t in e.get("top_logprobs") or ()
        )
        token = e["token"]
        out.append(LogprobEntry(token, tuple(e.get("bytes") or token.encode()), e["logprob"], tops))
    return tuple(out)


def completed(
    usage: Any, timings: Any = None, completion_estimate: int = 0, prompt_estimate: int = 0
) -> Completed:
    """``Completed`` from an upstream's ``usage`` (cached tokens from
    ``prompt_tokens_details``, else llama-server's ``timings.cache_n``); without usage
    (a stream from an upstream that sends none), the estimates: the prompt's size and the
    pieces streamed."""
    if not isinstance(usage, dict):
        return Completed(prompt_estimate, completion_estimate, 0)
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None and isinstance(timings, dict):
        cached = timings.get("cache_n")
    return Completed(
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        int(cached or 0),
    )


@dataclass
class _Calls:
    """One choice's upstream tool calls as they stream: upstream index -> started,
    arguments that came before the name."""

    started: dict[int, bool] = field(default_factory=dict)
    pending: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    def feed(self, choice: int, deltas: Any) -> list[CallDelta]:
        out = []
        for d in deltas or ():
            index = int(d.get("index") or 0)
            fn = d.get("function") or {}
            if fn.get("name"):
                self.names[index] = fn["name"]
            args = fn.get("arguments") or ""
            if not self.started.get(index) and index in self.names:
                self.started[index] = True
                out.append(CallDelta(choice, CallStarted(index, new_call_id(), self.names[index])))
                args = self.pending.pop(index, "") + args
            if not self.started.get(index):
                self.pending[index] = self.pending.get(index, "") + args
            elif args:
                out.append(CallDelta(choice, Arguments(index, args)))
        return out


async def _streamed_chat(
    served: RemoteModel, response: httpx2.Response, n: int, prompt: int
) -> AsyncGenerator[RemoteEvent, None]:
    calls = [_Calls() for _ in range(n)]
    finished: set[int] = set()
    pieces = 0
    usage: Any = None
    timings: Any = None
    async for chunk in sse_data(served, response):
        if chunk.get("usage"):
            usage = chunk["usage"]
        if chunk.get("timings"):
            timings = chunk["timings"]
        for c in chunk.get("choices") or ():
            i = int(c.get("index") or 0)
            if i >= n:
                continue
            delta = c.get("delta") or {}
            if delta.get("reasoning_content"):
                yield Thought(i, delta["reasoning_content"])
            entries = _entries(c.get("logprobs"))
            if delta.get("content") or entries:
                pieces += 1
                yield TokenDelta(i, delta.get("content") or "", entries)
            for call in calls[i].feed(i, delta.get("tool_calls")):
                pieces += 1
                yield call
            if c.get("finish_reason") and i not in finished:
                finished.add(i)
                yield ChoiceFinished(i, _finish(c["finish_reason"]))
    for i in range(n):
        if i not in finished:
            yield ChoiceFinished(i, "stop")
    yield completed(usage, timings, pieces, prompt)


async def _answered_chat(data: dict[str, Any]) -> AsyncGenerator[RemoteEvent, None]:
    choices = sorted(data.get("choices") or (), key=lambda c: int(c.get("index") or 0))
    for c in choices:
        i = int(c.get("index") or 0)
        message = c.get("message") or {}
        if message.get("reasoning_content"):
            yield Thought(i, message["reasoning_content"])
        entries = _entries(c.get("logprobs"))
        if message.get("content") or entries:
            yield TokenDelta(i, message.get("content") or "", entries)
        for index, call in enumerate(message.get("tool_calls") or ()):
            fn = call.get("function") or {}
            yield CallDelta(i, CallStarted(index, new_call_id(), fn.get("name") or ""))
            yield CallDelta(i, Arguments(index, fn.get("arguments") or ""))
        yield ChoiceFinished(i, _finish(c.get("finish_reason")))
    yield completed(data.get("usage"), data.get("timings"))
