"""Thinking models: their ``<think>...</think>`` block kept apart from the answer, and
bounded by ``reasoning_effort``.

A model thinks when its chat template knows the ``<think>`` block (Qwen3, QwQ,
DeepSeek-R1 distills and their fine-tunes). Its text is then generated in two phases,
so the thinking never reaches ``content`` and every constraint of the request applies to
the answer alone:

1. **Thinking**: one engine request from the prompt, with ``</think>`` as its only stop
   and at most the effort's budget of tokens (``REASONING_BUDGETS``), no grammar.
2. **Answer**: per choice, a request whose prompt is the first prompt + the thinking +
   ``</think>\\n\\n`` (closed for the model when the budget ran out), with the request's
   grammar (Structured Outputs, tools), ``stop`` and logprobs, and what is left of
   ``max_completion_tokens`` (which counts both phases, as OpenAI counts them). The
   engine's prefix cache finds the first prompt's blocks, so its prefill is cheap.

``Thinking`` runs both phases behind the engine handle's interface (``next`` /
``cancel``), adding ``Thought`` events (reasoning text) and ending with a ``Reasoned``
completion that counts the reasoning tokens; Chat Completions turns these into
``reasoning_content`` (as vLLM and llama.cpp's server name it) and
``usage.completion_tokens_details.reasoning_tokens``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from hearth.engine.chat_format import render_chat
from hearth.engine.events import ChoiceFinished, Completed, Event, Failed, TokenDelta
from hearth.engine.sequence import GenerationHandle, GenerationRequest
from hearth.engine.served import ServedModel
from hearth.errors import InvalidRequest

OPEN, CLOSE = "<think>", "</think>"

Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
"""``reasoning_effort`` values (the SDK's ``ReasoningEffort``)."""

REASONING_BUDGETS: Mapping[str, int | None] = {
    "none": 0,
    "minimal": 0,
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32768,
    "max": None,
}
"""Thinking tokens per ``reasoning_effort`` (None: no bound but ``max_completion_tokens``
and the context). ``none``/``minimal`` skip thinking as Qwen3's ``enable_thinking=false``
does (an empty block); ``low``/``medium``/``high`` grow fourfold from 1,024 (Anthropic's
smallest thinking budget, Gemini's ``low``); ``xhigh`` is the output length Qwen3
recommends for reasoning. An absent ``reasoning_effort`` is unbounded, as llama.cpp's
server and vLLM run these models."""

Style = Literal["opened", "switch", "may"]
"""How a template starts the thinking: ``opened``, its generation prompt ends inside a
``<think>`` block (DeepSeek-R1, QwQ, Qwen3-Thinking); ``switch``, it can turn thinking
off (``enable_thinking``: Qwen3; the model opens the block itself, Hearth writes it);
``may``, it only knows the tags (the model may or may not open a block)."""


def thinking_budget(
    effort: str | None, budgets: Mapping[str, int | None] = REASONING_BUDGETS
) -> int | None:
    """The thinking budget in tokens for ``effort`` (None: unbounded)."""
    return None if effort is None else budgets[effort]


@lru_cache(maxsize=32)
def thinking_style(template: str | None) -> Style | None:
    """How a model with chat ``template`` thinks; None when the template does not know
    the ``<think>`` block (the model is then served as any other)."""
    if not template or (OPEN not in template and CLOSE not in template):
        return None
    try:
        probe = render_chat(template, [{"role": "user", "content": "Hi"}])
    except InvalidRequest:  # a template that wants more than one message
        probe = ""
    if probe.rstrip().endswith(OPEN):
        return "opened"
    return "switch" if "enable_thinking" in template else "may"


Kind = Literal["reasoning", "text"]


class ThinkSplitter:
    """Splits a model's streamed text into its thinking (a ``<think>...</think>`` block
    at the start, after optional whitespace) and its answer. ``opened``: the prompt
    already opened the block, so the text starts inside it."""

    def __init__(self, opened: bool = False) -> None:
        self._buffer = ""
        self.state = "thinking" if opened else "start"  # start | thinking | after | answer

    def feed(self, text: str) -> list[tuple[Kind, str]]:
        """``(kind, text)`` pieces for ``text``; text that may be the start of a tag is
        held until the next piece tells."""
        self._buffer += text
        out: list[tuple[Kind, str]] = []
        if self.state == "start":
            stripped = self._buffer.lstrip()
            if len(stripped) < len(OPEN) and OPEN.startswith(stripped):
                return out
            if stripped.startswith(OPEN):
                self.state, self._buffer = "thinking", stripped[len(OPEN) :]
            else:
                self.state = "answer"
        if self.state == "thinking":
            end = self._buffer.find(CLOSE)
            if end < 0:
                keep = _partial_suffix(self._buffer, CLOSE)
                if len(self._buffer) > keep:
                    out.append(("reasoning", self._buffer[: len(self._buffer) - keep]))
                self._buffer = self._buffer[len(self._buffer) - keep :]
                return out
            if end:
                out.append(("reasoning", self._buffer[:end]))
            self.state, self._buffer = "after", self._buffer[end + len(CLOSE) :]
        if self.state == "after":  # the blank lines between thinking and answer go
            self._buffer = self._buffer.lstrip()
            if self._buffer:
                self.state = "answer"
        if self.state == "answer" and self._buffer:
            out.append(("text", self._buffer))
            self._buffer = ""
        return out

    def flush(self) -> list[tuple[Kind, str]]:
        """The held text at the end of the stream: the rest of an unclosed block is
        thinking; text that only looked like the start of ``<think>`` is answer."""
        held, self._buffer = self._buffer, ""
        if self.state == "thinking" and held:
            return [("reasoning", held)]
        if self.state == "start":
            self.state = "answer"
            return [("text", held)] if held.strip() else []
        return []


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest suffix of ``text`` that begins ``marker``."""
    for n in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-n:]):
            return n
    return 0


def closed_block(reasoning: str) -> str:
    """The end of a thinking block as the answer's prompt carries it: the thinking
    (newlines around it trimmed) and ``</think>``, as Qwen3's template writes a past
    turn's thinking (an empty block is ``\\n</think>\\n\\n``)."""
    body = reasoning.strip("\n")
    return f"{body}\n{CLOSE}\n\n" if body.strip() else f"\n{CLOSE}\n\n"


@dataclass(frozen=True)
class Thought:
    """Reasoning text of choice ``choice``."""

    choice: int
    text: str


@dataclass(frozen=True)
class Reasoned(Completed):
    """``Completed`` for a thinking model: ``completion_tokens`` counts thinking and
    answer tokens; ``reasoning_tokens`` the thinking's, as the model generated them (a
    tag it wrote to open the block included, the ``</think>`` that ends it not: Hearth
    writes that one when the budget runs out)."""

    reasoning_tokens: int = 0


ThinkingEvent = Event | Thought


@dataclass
class _Choice:
    splitter: ThinkSplitter
    reasoning: list[str] = field(default_factory=list)
    tokens: int = 0  # phase-1 tokens whose text was released
    skipped: bool = False  # answered without a think block: answered from the prompt


def _seed(seed: int | None, choice: int) -> int | None:
    """A distinct, reproducible seed for choice ``choice``'s answer request (its own
    engine request, so its sampler would otherwise replay stream 0 of ``seed``)."""
    if seed is None:
        return None
    return (seed * 0x9E3779B97F4A7C15 + choice + 1) % 2**63


class Thinking:
    """One request to a thinking model, run in two phases (module doc) behind the engine
    handle's interface: ``next`` gives engine events with the choices' indices and
    ``Thought`` events, and ends with a ``Reasoned`` (or raises the error of a failed
    engine request); ``cancel`` stops every engine request of it.

    ``request``: the answer's request as prepared (grammar, ``stop``, logprobs, ``n``,
    ``max_tokens`` = thinking + answer); ``budget``: thinking tokens (None: unbounded).
    The first engine request is submitted here, so the engine's refusals
    (``ServiceUnavailable``, ``InvalidRequest``) raise from the constructor; an answer
    request refused later raises from ``next``.
    """

    def __init__(
        self, model: ServedModel, request: GenerationRequest, style: Style, budget: int | None
    ) -> None:
        self._model = model
        self._request = request
        self._style = style
        self._context = model.info.context_length
        self._prompt = list(request.prompt)
        if style == "switch":  # what the model writes first when thinking is on
            self._prompt += model.tokenize(OPEN + "\n", special=True)
        self._choices = [_Choice(ThinkSplitter(opened=style != "may")) for _ in range(request.n)]
        self._ready: list[ThinkingEvent] = []
        self._waits: dict[GenerationHandle, asyncio.Future[Event]] = {}
        self._answers: dict[GenerationHandle, Sequence[int]] = {}
        self._thinking: GenerationHandle | None = None
        self._cached: int | None = None
        self._answer_tokens = 0
        self._cancelled = self._ended = False
        # "may": the model spends a few tokens opening the block itself
        extra = len(model.tokenize(OPEN + "\n", special=True)) if style == "may" else 0
        limit = min(request.max_tokens, self._context - len(self._prompt))
        think = limit if budget is None else min(budget + extra, limit)
        if think <= 0:  # no thinking: the empty block, one request for every choice
            empty = model.tokenize(closed_block(""), special=True)
            self._answer(range(request.n), self._prompt + empty, request.max_tokens, same=True)
            return
        self._thinking = model.generate(
            dataclasses.replace(
                request,
                prompt=self._prompt,
                max_tokens=think,
                stop=(CLOSE,),
                grammar=None,
                # logprobs on: each text delta then says how many tokens it completes
                params=dataclasses.replace(request.params, top_logprobs=0),
            )
        )
        self._waits[self._thinking] = self._wait(self._thinking)

    async def next(self) -> ThinkingEvent:
        """The next event; raises the error of a failed or refused engine request."""
        while not self._ready:
            if not self._waits:  # every request ended: every choice has finished
                if self._ended:
                    raise RuntimeError("next() after the generation ended")
                self._ended = True
                self._ready.append(self._completed())
                break
            done, _ = await asyncio.wait(self._waits.values(), return_when=asyncio.FIRST_COMPLETED)
            for handle, waiting in list(self._waits.items()):
                if waiting in done and self._waits.get(handle) is waiting:
                    del self._waits[handle]
                    await self._on(handle, waiting.result())
        return self._ready.pop(0)

    def cancel(self) -> None:
        """Stop every engine request of this generation (idempotent)."""
        self._cancelled = True
        for handle in [*self._answers, *([self._thinking] if self._thinking else [])]:
            handle.cancel()
        for waiting in self._waits.values():
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing waits any more
                waiting.cancel()

    def _wait(self, handle: GenerationHandle) -> asyncio.Future[Event]:
        return asyncio.ensure_future(handle.next())

    async def _on(self, handle: GenerationHandle, event: Event) -> None:
        if isinstance(event, Failed):
            raise event.error
        if handle is self._thinking:
            await self._on_thinking(event)
        else:
            self._on_answer(handle, event)
        live = handle is self._thinking or handle in self._answers
        if live and not isinstance(event, Completed) and not self._cancelled:
            self._waits[handle] = self._wait(handle)

    async def _on_thinking(self, event: Event) -> None:
        if isinstance(event, Completed):
            self._cached = event.cached_tokens
            return
        if not isinstance(event, TokenDelta | ChoiceFinished):
            return
        index = event.choice
        choice = self._choices[index]
        if choice.skipped:
            return
        if isinstance(event, TokenDelta):
            choice.tokens += len(event.logprobs)
            await self._pieces(index, choice.splitter.feed(event.text))
            return
        await self._pieces(index, choice.splitter.flush())
        if choice.skipped:
            return
        if choice.splitter.state == "start":  # it wrote nothing: answer from the prompt
            self._skip(index)
            return
        block = closed_block("".join(choice.reasoning))
        text = (OPEN + "\n" + block) if self._style == "may" else block
        prompt = self._prompt + await asyncio.to_thread(self._model.tokenize, text, special=True)
        self._answer([index], prompt, self._request.max_tokens - choice.tokens)

    async def _pieces(self, index: int, pieces: list[tuple[Kind, str]]) -> None:
        choice = self._choices[index]
        for kind, text in pieces:
            if kind == "text":  # no think block after all
                self._skip(index)
                return
            choice.reasoning.append(text)
            self._ready.append(Thought(index, text))

    def _skip(self, index: int) -> None:
        """Choice ``index`` answers without thinking: what it wrote (the start of an
        unconstrained answer) is dropped and it answers from the prompt, constrained."""
        self._choices[index].skipped = True
        if len(self._choices) == 1 and self._thinking is not None:
            self._thinking.cancel()  # nothing else needs it
            self._waits.pop(self._thinking, None)
            self._thinking = None
        self._answer([index], self._prompt, self._request.max_tokens)

    def _answer(
        self, indices: Sequence[int], prompt: list[int], left: int, *, same: bool = False
    ) -> None:
        """Submit the answer of choices ``indices`` as one engine request with ``left``
        tokens (``same``: with the request's own seed, else one derived for the choice);
        a choice with no room left finishes with ``length`` and no answer."""
        room = min(left, self._context - len(prompt))
        if room <= 0 or self._cancelled:
            for i in indices:
                self._ready.append(ChoiceFinished(i, "length"))
            return
        params = self._request.params
        if not same:
            params = dataclasses.replace(params, seed=_seed(params.seed, indices[0]))
        handle = self._model.generate(
            dataclasses.replace(
                self._request, prompt=prompt, max_tokens=room, n=len(indices), params=params
            )
        )
        self._answers[handle] = list(indices)
        self._waits[handle] = self._wait(handle)

    def _on_answer(self, handle: GenerationHandle, event: Event) -> None:
        indices = self._answers[handle]
        if isinstance(event, TokenDelta | ChoiceFinished):
            self._ready.append(dataclasses.replace(event, choice=indices[event.choice]))
        elif isinstance(event, Completed):
            self._answer_tokens += event.completion_tokens
            if self._cached is None:
                self._cached = min(event.cached_tokens, len(self._prompt))

    def _completed(self) -> Reasoned:
        reasoning = sum(c.tokens for c in self._choices if not c.skipped)
        return Reasoned(
            prompt_tokens=len(self._prompt),
            completion_tokens=reasoning + self._answer_tokens,
            cached_tokens=self._cached or 0,
            reasoning_tokens=reasoning,
        )
