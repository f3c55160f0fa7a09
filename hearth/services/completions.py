"""``client.completions.create``: the legacy Completions API (OpenAI API reference:
Completions), raw text in, raw text out, on the same engine as Chat Completions.

The prompt is tokenized as given, with no chat template (control tokens such as
``<|im_start|>`` are parsed, so a hand-written template works); a text prompt starts
with the model's BOS token where its vocabulary asks for one (Gemma), as llama.cpp's own
server does. ``prompt`` may be a string, a list of strings, a list of token ids (sent as
they are) or a list of such lists; each prompt is one engine request with ``n`` (or
``best_of``) choices, choice ``i`` of prompt ``p`` having index ``p * n + i``. With
``suffix``, a model whose vocabulary has fill-in-the-middle tokens gets the prompt
``<fim_pre> prompt <fim_suf> suffix <fim_mid>``. Responses are the SDK's ``Completion``
type.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
from openai.types import Completion, CompletionChoice
from openai.types.completion_choice import Logprobs
from openai.types.completion_usage import CompletionUsage
from pydantic import Field

from hearth.domain import Principal
from hearth.engine.events import (
    ChoiceFinished,
    Completed,
    FinishReason,
    LogprobEntry,
    PromptLogprobs,
    TokenDelta,
)
from hearth.engine.registry import ModelRegistry
from hearth.engine.remote import RemoteModel
from hearth.engine.sequence import GenerationHandle, GenerationRequest
from hearth.engine.served import ServedModel
from hearth.engine.weights import VocabFacts, vocab_facts
from hearth.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    ServiceUnavailable,
    array_above_max_length,
)
from hearth.services.chat.completions import Chunks, reported_cached_tokens, usage
from hearth.services.chat.params import GenerationParams
from hearth.services.chat.prepare import check_text_size, sampling_params
from hearth.services.chat.remote import SAMPLING, completed, estimated_tokens, sse_data
from hearth.services.rate_limits import Admission, RateLimiter, admit
from hearth.services.usage import UsageMeter

MAX_PROMPTS = 128
"""Prompts in one request; more is a 400 ``array_above_max_length`` (each prompt is one
engine request, so a larger batch would only meet the admission limit)."""


class CompletionParams(GenerationParams):
    """``POST /v1/completions``; ranges and defaults as in the API reference
    (``max_tokens`` 16)."""

    prompt: str | list[str] | list[int] | list[list[int]] | None = None
    max_tokens: int | None = Field(default=16, ge=0)
    echo: bool | None = None
    logprobs: int | None = Field(default=None, ge=0, le=5)
    best_of: int | None = Field(default=None, ge=0, le=20)
    suffix: str | None = None


@dataclass
class _Prompt:
    """What the model reads (``tokens``) and what ``echo`` shows (``text``)."""

    tokens: list[int]
    text: str
    first: str = ""  # token 0's text: it has no logprob entry


@dataclass
class _Choice:
    text: list[str] = field(default_factory=list)
    logprobs: list[LogprobEntry] = field(default_factory=list)
    finish_reason: FinishReason = "length"

    def score(self) -> float:
        """Mean log probability per token: how ``best_of`` ranks candidates ("the
        highest log probability per token", API reference)."""
        if not self.logprobs:
            return float("-inf")
        return sum(e.logprob for e in self.logprobs) / len(self.logprobs)


@dataclass(frozen=True)
class _Run:
    """A submitted request: what every object repeats, and one handle per prompt (None
    where nothing is generated or scored: ``max_tokens`` 0 without ``echo`` and
    ``logprobs``)."""

    id: str
    created: int
    model: str
    fingerprint: str
    prompts: list[_Prompt]
    handles: list[GenerationHandle | None]
    candidates: int
    echo_logprobs: bool  # the prompt's own logprobs are wanted
    admission: Admission | None = None


class Completions:
    """The legacy Completions use-case over a ``ModelRegistry``; the caller's
    organization scopes the prompt cache."""

    def __init__(
        self,
        registry: ModelRegistry,
        meter: UsageMeter | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._registry = registry
        self._meter = meter
        self._limiter = limiter

    async def create(self, caller: Principal, params: CompletionParams) -> Completion:
        """Every choice of every prompt to the end: one ``Completion``. Raises
        ``InvalidRequest`` / ``ContextLengthExceeded`` / ``ModelNotFound`` before
        generating, ``ServiceUnavailable`` when the engine is full. Cancelling the call
        stops generation. With ``best_of``, the ``n`` candidates with the highest mean
        token log probability are returned; usage counts every candidate. With ``echo``
        and ``logprobs``, each choice's ``logprobs`` cover the prompt's tokens (the
        first one ``null``, as OpenAI sends it) and then the completion's. A remote
        model's upstream answers the same request (``remote_body``)."""
        served = await self._registry.aget(params.model, caller.organization_id)
        if isinstance(served, RemoteModel):
            return await self._remote_create(caller, params, served)
        run = await self._start(caller, params)
        try:
            drained = await asyncio.gather(*(_drain(h, run.candidates) for h in run.handles))
        finally:
            _cancel(run.handles)
        n = params.n or 1
        choices: list[CompletionChoice] = []
        prompt_tokens = completion_tokens = cached = 0
        for p, (picked, scored, done) in enumerate(drained):
            prompt = run.prompts[p]
            if done is None:  # max_tokens 0 and nothing to score
                prompt_tokens += len(prompt.tokens)
            else:
                prompt_tokens += done.prompt_tokens
                completion_tokens += done.completion_tokens
                cached += done.cached_tokens
            if run.candidates > n:
                picked = sorted(picked, key=lambda c: c.score(), reverse=True)[:n]
            for i, c in enumerate(picked):
                text = "".join(c.text)
                lp = None
                if params.logprobs is not None:
                    lp = _logprobs(c.logprobs, len(prompt.text), params.logprobs)
                    if run.echo_logprobs:
                        lp = _joined(_prompt_logprobs(prompt, scored, params.logprobs), lp)
                choices.append(
                    CompletionChoice(
                        index=p * n + i,
                        text=prompt.text + text if params.echo else text,
                        finish_reason=c.finish_reason,
                        logprobs=lp,
                    )
                )
        self._record(caller, run, prompt_tokens, completion_tokens, cached)
        return _completion(run, choices, usage(prompt_tokens, completion_tokens, cached))

    def _record(
        self, caller: Principal, run: _Run, prompt: int, completion: int, cached: int
    ) -> None:
        """Count the request's usage as its ``usage`` reports it; settle its rate-limit
        reservation."""
        if run.admission is not None:
            run.admission.settle_soon(prompt + completion)
        if self._meter is not None:
            self._meter.record(
                caller,
                "completions",
                run.model,
                input_tokens=prompt,
                input_cached_tokens=reported_cached_tokens(cached),
                output_tokens=completion,
            )

    async def stream(
        self, caller: Principal, params: CompletionParams
    ) -> AsyncIterator[Completion]:
        """Validate, tokenize and submit now (raising as ``create`` does), then
        ``Completion`` chunks as OpenAI streams them: text pieces per choice (the prompt
        first with ``echo``, with its tokens' logprobs when ``logprobs`` is set), a last
        chunk per choice with its ``finish_reason``, then
        (``stream_options.include_usage``) one with ``usage`` and no choices. Prompts
        generate together; their chunks come prompt by prompt. Closing the iterator
        early cancels the generation."""
        if params.best_of is not None and params.best_of > (params.n or 1):
            raise InvalidRequest(
                "best_of greater than n cannot be used with stream: true.", param="best_of"
            )
        served = await self._registry.aget(params.model, caller.organization_id)
        if isinstance(served, RemoteModel):
            return await self._remote_stream(caller, params, served)
        run = await self._start(caller, params)
        return Chunks([h for h in run.handles if h], self._chunks(caller, params, run))

    async def _remote_admit(
        self, caller: Principal, params: CompletionParams, served: RemoteModel, stream: bool
    ) -> tuple[_Run, dict[str, Any]]:
        """Check, admit (the prompt estimated) and describe a remote model's request."""
        _check_combinations(params)
        body = remote_body(params, served, caller.organization_id, stream=stream)
        prompt = estimated_tokens(body["prompt"])
        candidates = max(params.best_of or params.n or 1, params.n or 1)
        reserve = prompt + (params.max_tokens or 0) * candidates
        admission = await admit(self._limiter, caller, served.id, reserve)
        run = _Run(
            f"cmpl-{secrets.token_urlsafe(21)}",
            int(time.time()),
            served.id,
            served.info.fingerprint,
            [_Prompt([], "")],
            [],
            candidates,
            False,
            admission,
        )
        return run, body

    async def _remote_create(
        self, caller: Principal, params: CompletionParams, served: RemoteModel
    ) -> Completion:
        run, body = await self._remote_admit(caller, params, served, stream=False)
        done = None
        served.started()
        try:
            data = await served.post("completions", body)
            done = completed(data.get("usage"), data.get("timings"))
        finally:
            served.ended()
            if done is None:
                self._record(caller, run, 0, 0, 0)
        choices = [_remote_choice(c) for c in data.get("choices") or ()]
        self._record(caller, run, done.prompt_tokens, done.completion_tokens, done.cached_tokens)
        return _completion(
            run, choices, usage(done.prompt_tokens, done.completion_tokens, done.cached_tokens)
        )

    async def _remote_stream(
        self, caller: Principal, params: CompletionParams, served: RemoteModel
    ) -> AsyncIterator[Completion]:
        run, body = await self._remote_admit(caller, params, served, stream=True)
        try:
            response = await served.open("completions", body)
        except BaseException:
            self._record(caller, run, 0, 0, 0)
            raise
        return Chunks([], self._remote_chunks(caller, params, served, run, response))

    async def _remote_chunks(
        self,
        caller: Principal,
        params: CompletionParams,
        served: RemoteModel,
        run: _Run,
        response: httpx2.Response,
    ) -> AsyncGenerator[Completion, None]:
        usage_on = bool(params.stream_options and params.stream_options.include_usage)
        found: Any = None
        timings: Any = None
        pieces = 0
        done: Completed | None = None
        served.started()
        try:
            async for chunk in sse_data(served, response):
                found = chunk.get("usage") or found
                timings = chunk.get("timings") or timings
                choices = [_remote_choice(c, partial=True) for c in chunk.get("choices") or ()]
                if not choices:
                    continue
                pieces += len(choices)
                out = _completion(run, choices, None)
                if usage_on:
                    out.usage = None
                yield out
            done = completed(found, timings, pieces, estimated_tokens(body_prompt(params)))
            if usage_on:
                yield _completion(
                    run, [], usage(done.prompt_tokens, done.completion_tokens, done.cached_tokens)
                )
        except httpx2.HTTPError as exc:
            raise ServiceUnavailable(
                f"The upstream engine of `{served.id}` broke off its answer "
                f"({type(exc).__name__}).",
                code="upstream_error",
            ) from None
        finally:
            served.ended()
            await response.aclose()
            if done is None:
                self._record(caller, run, estimated_tokens(body_prompt(params)), pieces, 0)
            else:
                self._record(
                    caller, run, done.prompt_tokens, done.completion_tokens, done.cached_tokens
                )

    async def _start(self, caller: Principal, params: CompletionParams) -> _Run:
        served = await self._registry.aget(params.model, caller.organization_id)
        _check_combinations(params)
        facts = await asyncio.to_thread(vocab_facts, served.info.path)
        if params.suffix and facts.fim is None:
            raise InvalidRequest(
                f"suffix is not supported by the model `{served.id}`: insertion needs a "
                "fill-in-the-middle model (a vocabulary with FIM prefix, suffix and middle "
                "tokens).",
                param="suffix",
            )
        prompts = await asyncio.to_thread(_prompts, params, served, facts)
        n = params.n or 1
        candidates = max(params.best_of or n, n)
        wanted = params.logprobs
        if candidates > n and wanted is None:
            wanted = 0  # ranking needs each token's log probability
        echo_logprobs = bool(params.echo) and params.logprobs is not None
        max_tokens = _max_tokens(params, prompts, served.info.context_length)
        sampling = sampling_params(params, served.info.n_vocab, wanted)
        reserve = sum(len(p.tokens) for p in prompts) + (
            (params.max_tokens or 0) * candidates * len(prompts)
        )
        admission = await admit(self._limiter, caller, served.id, reserve)
        handles: list[GenerationHandle | None] = []
        try:
            for prompt in prompts:
                if max_tokens == 0 and not echo_logprobs:
                    handles.append(None)  # nothing to generate or score
                    continue
                request = GenerationRequest(
                    prompt=prompt.tokens,
                    params=sampling,
                    max_tokens=max_tokens,
                    n=candidates,
                    stop=params.stop_sequences(),
                    cache_scope=caller.organization_id,
                    prompt_logprobs=params.logprobs if echo_logprobs else None,
                )
                handles.append(served.generate(request))
        except BaseException:
            _cancel(handles)  # one prompt refused: none of them runs
            if admission is not None:
                admission.settle_soon(0)
            raise
        return _Run(
            f"cmpl-{secrets.token_urlsafe(21)}",
            int(time.time()),
            served.id,
            served.info.fingerprint,
            prompts,
            handles,
            candidates,
            echo_logprobs,
            admission,
        )

    async def _chunks(
        self, caller: Principal, params: CompletionParams, run: _Run
    ) -> AsyncGenerator[Completion, None]:
        n = params.n or 1
        usage_on = bool(params.stream_options and params.stream_options.include_usage)

        def chunk(
            choices: list[CompletionChoice], usage: CompletionUsage | None = None
        ) -> Completion:
            out = _completion(run, choices, None)
            if usage_on:  # as Chat Completions: "usage": null on every chunk but the last
                out.usage = usage
            return out

        def piece(
            index: int, text: str, finish: FinishReason | None, lp: Logprobs | None = None
        ) -> CompletionChoice:
            # finish_reason is null until a choice ends: built unvalidated, as the SDK does
            return CompletionChoice.model_construct(
                index=index, text=text, logprobs=lp, finish_reason=finish
            )

        prompt_tokens = completion_tokens = cached = 0
        ended = 0  # prompts whose generation ended; the others count their prompt alone
        try:
            for p, handle in enumerate(run.handles):
                prompt = run.prompts[p]
                offsets = [len(prompt.text)] * n
                if params.echo and not run.echo_logprobs:
                    for i in range(n):
                        yield chunk([piece(p * n + i, prompt.text, None)])
                if handle is None:
                    prompt_tokens += len(prompt.tokens)
                    ended += 1
                    for i in range(n):
                        yield chunk([piece(p * n + i, "", "length")])
                    continue
                while True:
                    event = await handle.next()
                    if isinstance(event, PromptLogprobs):  # first, before any text
                        assert params.logprobs is not None
                        lp = _prompt_logprobs(prompt, event.entries, params.logprobs)
                        for i in range(n):
                            yield chunk([piece(p * n + i, prompt.text, None, lp)])
                    elif isinstance(event, TokenDelta):
                        lp = None
                        if params.logprobs is not None:
                            lp = _logprobs(
                                list(event.logprobs), offsets[event.choice], params.logprobs
                            )
                            offsets[event.choice] += sum(len(e.token) for e in event.logprobs)
                        yield chunk([piece(p * n + event.choice, event.text, None, lp)])
                    elif isinstance(event, ChoiceFinished):
                        yield chunk([piece(p * n + event.choice, "", event.finish_reason)])
                    elif isinstance(event, Completed):
                        prompt_tokens += event.prompt_tokens
                        completion_tokens += event.completion_tokens
                        cached += event.cached_tokens
                        ended += 1
                        break
                    else:
                        raise event.error
            if usage_on:
                yield chunk([], usage(prompt_tokens, completion_tokens, cached))
        finally:
            _cancel(run.handles)
            prompt_tokens += sum(len(p.tokens) for p in run.prompts[ended:])
            self._record(caller, run, prompt_tokens, completion_tokens, cached)


def body_prompt(params: CompletionParams) -> str | list[str] | list[int] | list[list[int]]:
    """``prompt`` as sent upstream (absent: "", as OpenAI's default prompt)."""
    return "" if params.prompt is None else params.prompt


_PASSED = SAMPLING | {"echo", "best_of", "suffix"}
"""Completions parameters the upstream reads as they are (when set)."""


def remote_body(
    params: CompletionParams, served: RemoteModel, organization_id: str, *, stream: bool
) -> dict[str, Any]:
    """The upstream's ``POST /completions`` body for ``params`` (vLLM: with the
    organization's ``cache_salt``)."""
    body: dict[str, Any] = {
        "model": served.upstream_model,
        "prompt": body_prompt(params),
        "stream": stream,
        "max_tokens": params.max_tokens,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    body.update(params.model_dump(include=_PASSED, exclude_none=True))
    if served.flavor == "vllm":
        body["cache_salt"] = served.cache_salt(organization_id)
    return body


def _remote_choice(choice: dict[str, Any], partial: bool = False) -> CompletionChoice:
    """An upstream's choice as the SDK's type (a streamed one unvalidated: its
    ``finish_reason`` is null until it ends)."""
    logprobs = choice.get("logprobs")
    fields: dict[str, Any] = {
        "index": int(choice.get("index") or 0),
        "text": choice.get("text") or "",
        "logprobs": Logprobs.model_validate(logprobs) if isinstance(logprobs, dict) else None,
        "finish_reason": choice.get("finish_reason") or (None if partial else "stop"),
    }
    if partial:
        return CompletionChoice.model_construct(**fields)
    return CompletionChoice.model_validate(fields)


def _check_combinations(params: CompletionParams) -> None:
    if params.suffix and params.echo:
        raise InvalidRequest("echo cannot be used with suffix.", param="echo")
    if params.best_of is not None and params.best_of < (params.n or 1):
        raise InvalidRequest("best_of must be greater than or equal to n.", param="best_of")


def _prompts(params: CompletionParams, served: ServedModel, facts: VocabFacts) -> list[_Prompt]:
    """Each prompt's tokens and text (with ``suffix``, the fill-in-the-middle prompt);
    raises ``InvalidRequest`` for an empty list, too many prompts, or a token id outside
    the vocabulary. Blocking (tokenizer)."""
    raw = params.prompt
    if raw is None:
        raw = ""
    if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
        items: list[str | list[int]] = [raw]
    else:
        items = list(raw)  # type: ignore[arg-type]
    if not items:
        raise InvalidRequest("prompt must not be an empty array.", param="prompt")
    if len(items) > MAX_PROMPTS:
        raise array_above_max_length("prompt", MAX_PROMPTS, len(items))
    info = served.info
    texts = [t for t in items if isinstance(t, str)] + [params.suffix or ""]
    check_text_size(served, texts, info.context_length, "prompt")
    bos = [] if facts.bos is None else [facts.bos]
    after = served.tokenize(params.suffix, special=False) if params.suffix else []
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            lead, body, text = bos, served.tokenize(item, special=True), item
        else:
            if not item:
                raise InvalidRequest(f"prompt[{i}] must not be empty.", param="prompt")
            bad = [t for t in item if not 0 <= t < info.n_vocab]
            if bad:
                raise InvalidRequest(
                    f"Invalid token id {bad[0]} in prompt: the vocabulary has "
                    f"{info.n_vocab} tokens.",
                    param="prompt",
                )
            lead, body, text = [], list(item), served.detokenize(item)
        if params.suffix and facts.fim is not None:
            pre, suf, mid = facts.fim
            tokens = [*lead, pre, *body, suf, *after, mid]
        elif not (lead or body):
            # an empty prompt is the end-of-text token, as OpenAI's default prompt
            tokens = served.tokenize(info.eos_token, special=True)
        else:
            tokens = lead + body
        out.append(_Prompt(tokens, text, served.detokenize(tokens[:1])))
    return out


def _max_tokens(params: CompletionParams, prompts: list[_Prompt], context: int) -> int:
    longest = max(len(p.tokens) for p in prompts)
    wanted = params.max_tokens
    if longest + (wanted or 0) > context or longest >= context:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {context} tokens, however you "
            f"requested {longest + (wanted or 0)} tokens ({longest} in your prompt; "
            f"{wanted or 0} for the completion). Please reduce your prompt; or completion "
            "length.",
            param="prompt",
        )
    return context - longest if wanted is None else wanted


async def _drain(
    handle: GenerationHandle | None, candidates: int
) -> tuple[list[_Choice], tuple[LogprobEntry, ...], Completed | None]:
    """Every choice, the prompt's logprob entries (when asked for), and the counts."""
    choices = [_Choice() for _ in range(candidates)]
    scored: tuple[LogprobEntry, ...] = ()
    if handle is None:
        return choices, scored, None
    while True:
        event = await handle.next()
        if isinstance(event, PromptLogprobs):
            scored = event.entries
        elif isinstance(event, TokenDelta):
            choices[event.choice].text.append(event.text)
            choices[event.choice].logprobs += event.logprobs
        elif isinstance(event, ChoiceFinished):
            choices[event.choice].finish_reason = event.finish_reason
        elif isinstance(event, Completed):
            return choices, scored, event
        else:
            raise event.error


def _logprobs(entries: list[LogprobEntry], offset: int, top: int | None) -> Logprobs:
    """The legacy ``logprobs`` object: each token, its log probability, its ``top``
    alternatives (the sampled token always among them, as OpenAI does) and its
    character offset in prompt + completion."""
    offsets = []
    for e in entries:
        offsets.append(offset)
        offset += len(e.token)
    tops = []
    for e in entries:
        alternatives = {t.token: t.logprob for t in e.top_logprobs[: top or 0]}
        if top:
            alternatives.setdefault(e.token, e.logprob)
        tops.append(alternatives)
    return Logprobs(
        tokens=[e.token for e in entries],
        token_logprobs=[e.logprob for e in entries],
        top_logprobs=tops,
        text_offset=offsets,
    )


def _prompt_logprobs(prompt: _Prompt, scored: Sequence[LogprobEntry], top: int) -> Logprobs:
    """``logprobs`` for the prompt's own tokens (``echo``): token 0 first, with a
    ``null`` log probability and ``null`` alternatives as OpenAI sends them (nothing
    precedes it), then ``scored`` (the engine's entries for tokens 1...). Offsets count
    from the start of the prompt. Built unvalidated: the SDK's type has no nulls."""
    rest = _logprobs(list(scored), len(prompt.first), top)
    return Logprobs.model_construct(
        tokens=[prompt.first, *(rest.tokens or [])],
        token_logprobs=[None, *(rest.token_logprobs or [])],
        top_logprobs=[None, *(rest.top_logprobs or [])],
        text_offset=[0, *(rest.text_offset or [])],
    )


def _joined(first: Logprobs, then: Logprobs) -> Logprobs:
    """Two ``logprobs`` objects as one (prompt tokens, then completion tokens)."""
    return Logprobs.model_construct(
        tokens=[*(first.tokens or []), *(then.tokens or [])],
        token_logprobs=[*(first.token_logprobs or []), *(then.token_logprobs or [])],
        top_logprobs=[*(first.top_logprobs or []), *(then.top_logprobs or [])],
        text_offset=[*(first.text_offset or []), *(then.text_offset or [])],
    )


def _completion(
    run: _Run, choices: list[CompletionChoice], usage: CompletionUsage | None
) -> Completion:
    out = Completion(
        id=run.id,
        object="text_completion",
        created=run.created,
        model=run.model,
        system_fingerprint=run.fingerprint,
        choices=choices,
    )
    if usage is not None:
        out.usage = usage
    return out


def _cancel(handles: list[GenerationHandle | None]) -> None:
    for handle in handles:
        if handle is not None:
            handle.cancel()
