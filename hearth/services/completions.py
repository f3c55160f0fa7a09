"""``client.completions.create``: the legacy Completions API (OpenAI API reference:
Completions), raw text in, raw text out, on the same engine as Chat Completions.

The prompt is tokenized as given, with no chat template (control tokens such as
``<|im_start|>`` are parsed, so a hand-written template works). ``prompt`` may be a
string, a list of strings, a list of token ids or a list of such lists; each prompt is
one engine request with ``n`` (or ``best_of``) choices, choice ``i`` of prompt ``p``
having index ``p * n + i``. Responses are the SDK's ``Completion`` type.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

from openai.types import Completion, CompletionChoice
from openai.types.completion_choice import Logprobs
from openai.types.completion_usage import CompletionUsage
from pydantic import Field

from hearth.domain import Principal
from hearth.engine.events import ChoiceFinished, Completed, FinishReason, LogprobEntry, TokenDelta
from hearth.engine.registry import ModelRegistry
from hearth.engine.sequence import GenerationHandle, GenerationRequest
from hearth.engine.served import ServedModel
from hearth.errors import ContextLengthExceeded, InvalidRequest, array_above_max_length
from hearth.services.chat.completions import Chunks, usage
from hearth.services.chat.params import GenerationParams
from hearth.services.chat.prepare import check_text_size, sampling_params

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
    tokens: list[int]
    text: str


@dataclass
class _Choice:
    text: list[str] = field(default_factory=list)
    logprobs: list[LogprobEntry] = field(default_factory=list)
    finish_reason: FinishReason = "length"

    def score(self) -> float:
        """Mean log probability per token: how ``best_of`` ranks candidates."""
        if not self.logprobs:
            return float("-inf")
        return sum(e.logprob for e in self.logprobs) / len(self.logprobs)


@dataclass(frozen=True)
class _Run:
    """A submitted request: what every object repeats, and one handle per prompt (None
    where nothing is generated: ``max_tokens`` 0)."""

    id: str
    created: int
    model: str
    fingerprint: str
    prompts: list[_Prompt]
    handles: list[GenerationHandle | None]
    candidates: int


class Completions:
    """The legacy Completions use-case over a ``ModelRegistry``; the caller's
    organization scopes the prompt cache."""

    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry

    async def create(self, caller: Principal, params: CompletionParams) -> Completion:
        """Every choice of every prompt to the end: one ``Completion``. Raises
        ``InvalidRequest`` / ``ContextLengthExceeded`` / ``ModelNotFound`` before
        generating, ``ServiceUnavailable`` when the engine is full. Cancelling the call
        stops generation. With ``best_of``, the ``n`` candidates with the highest mean
        token log probability are returned; usage counts every candidate."""
        run = await self._start(caller, params)
        try:
            drained = await asyncio.gather(*(_drain(h, run.candidates) for h in run.handles))
        finally:
            _cancel(run.handles)
        n = params.n or 1
        choices: list[CompletionChoice] = []
        prompt_tokens = completion_tokens = cached = 0
        for p, (picked, done) in enumerate(drained):
            prompt = run.prompts[p]
            if done is None:  # max_tokens 0: nothing generated
                prompt_tokens += len(prompt.tokens)
            else:
                prompt_tokens += done.prompt_tokens
                completion_tokens += done.completion_tokens
                cached += done.cached_tokens
            if run.candidates > n:
                picked = sorted(picked, key=lambda c: c.score(), reverse=True)[:n]
            for i, c in enumerate(picked):
                text = "".join(c.text)
                choices.append(
                    CompletionChoice(
                        index=p * n + i,
                        text=prompt.text + text if params.echo else text,
                        finish_reason=c.finish_reason,
                        logprobs=(
                            _logprobs(c.logprobs, len(prompt.text), params.logprobs)
                            if params.logprobs is not None
                            else None
                        ),
                    )
                )
        return _completion(run, choices, usage(prompt_tokens, completion_tokens, cached))

    async def stream(
        self, caller: Principal, params: CompletionParams
    ) -> AsyncIterator[Completion]:
        """Validate, tokenize and submit now (raising as ``create`` does), then
        ``Completion`` chunks as OpenAI streams them: text pieces per choice (the prompt
        first with ``echo``), a last chunk per choice with its ``finish_reason``, then
        (``stream_options.include_usage``) one with ``usage`` and no choices. Prompts
        generate together; their chunks come prompt by prompt. Closing the iterator
        early cancels the generation."""
        if params.best_of is not None and params.best_of > (params.n or 1):
            raise InvalidRequest(
                "best_of greater than n cannot be used with stream: true.", param="best_of"
            )
        run = await self._start(caller, params)
        return Chunks([h for h in run.handles if h], self._chunks(params, run))

    async def _start(self, caller: Principal, params: CompletionParams) -> _Run:
        served = await self._registry.aget(params.model, caller.organization_id)
        _check_combinations(params)
        prompts = await asyncio.to_thread(_prompts, params, served)
        n = params.n or 1
        candidates = max(params.best_of or n, n)
        wanted = params.logprobs
        if candidates > n and wanted is None:
            wanted = 0  # ranking needs each token's log probability
        max_tokens = _max_tokens(params, prompts, served.info.context_length)
        sampling = sampling_params(params, served.info.n_vocab, wanted)
        handles: list[GenerationHandle | None] = []
        try:
            for prompt in prompts:
                if max_tokens == 0:
                    handles.append(None)
                    continue
                request = GenerationRequest(
                    prompt=prompt.tokens,
                    params=sampling,
                    max_tokens=max_tokens,
                    n=candidates,
                    stop=params.stop_sequences(),
                    cache_scope=caller.organization_id,
                )
                handles.append(served.generate(request))
        except BaseException:
            _cancel(handles)  # one prompt refused: none of them runs
            raise
        return _Run(
            f"cmpl-{secrets.token_urlsafe(21)}",
            int(time.time()),
            served.id,
            served.info.fingerprint,
            prompts,
            handles,
            candidates,
        )

    async def _chunks(
        self, params: CompletionParams, run: _Run
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
        try:
            for p, handle in enumerate(run.handles):
                prompt = run.prompts[p]
                offsets = [len(prompt.text)] * n
                if params.echo:
                    for i in range(n):
                        yield chunk([piece(p * n + i, prompt.text, None)])
                if handle is None:
                    prompt_tokens += len(prompt.tokens)
                    for i in range(n):
                        yield chunk([piece(p * n + i, "", "length")])
                    continue
                while True:
                    event = await handle.next()
                    if isinstance(event, TokenDelta):
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
                        break
                    else:
                        raise event.error
            if usage_on:
                yield chunk([], usage(prompt_tokens, completion_tokens, cached))
        finally:
            _cancel(run.handles)


def _check_combinations(params: CompletionParams) -> None:
    if params.suffix:
        raise InvalidRequest(
            "suffix is not supported by this model: insertion needs a fill-in-the-middle model.",
            param="suffix",
        )
    if params.echo and params.logprobs is not None:
        raise InvalidRequest(
            "echo with logprobs is not supported: Hearth does not compute log "
            "probabilities of prompt tokens.",
            param="echo",
        )
    if params.best_of is not None and params.best_of < (params.n or 1):
        raise InvalidRequest("best_of must be greater than or equal to n.", param="best_of")


def _prompts(params: CompletionParams, served: ServedModel) -> list[_Prompt]:
    """Each prompt's tokens and text; raises ``InvalidRequest`` for an empty list, too
    many prompts, or a token id outside the vocabulary. Blocking (tokenizer)."""
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
    check_text_size(served, [t for t in items if isinstance(t, str)], info.context_length, "prompt")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            # an empty prompt is the end-of-text token, as OpenAI's default prompt
            tokens = served.tokenize(item or info.eos_token, special=True)
            out.append(_Prompt(tokens, item))
            continue
        if not item:
            raise InvalidRequest(f"prompt[{i}] must not be empty.", param="prompt")
        bad = [t for t in item if not 0 <= t < info.n_vocab]
        if bad:
            raise InvalidRequest(
                f"Invalid token id {bad[0]} in prompt: the vocabulary has {info.n_vocab} tokens.",
                param="prompt",
            )
        out.append(_Prompt(list(item), served.detokenize(item)))
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
) -> tuple[list[_Choice], Completed | None]:
    choices = [_Choice() for _ in range(candidates)]
    if handle is None:
        return choices, None
    while True:
        event = await handle.next()
        if isinstance(event, TokenDelta):
            choices[event.choice].text.append(event.text)
            choices[event.choice].logprobs += event.logprobs
        elif isinstance(event, ChoiceFinished):
            choices[event.choice].finish_reason = event.finish_reason
        elif isinstance(event, Completed):
            return choices, event
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
