"""Units of thinking models' support: the splitter on scripted chunks, how a template is
classified, and the two phases of ``Thinking`` over a scripted engine (one token per
character; the real engine is exercised in ``tests/api/test_reasoning.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from hearth.engine.events import (
    ChoiceFinished,
    Completed,
    Event,
    Failed,
    LogprobEntry,
    TokenDelta,
)
from hearth.engine.sampling import SamplingParams
from hearth.engine.sequence import GenerationRequest
from hearth.errors import ServiceUnavailable
from hearth.services.chat.reasoning import (
    REASONING_BUDGETS,
    Reasoned,
    Style,
    Thinking,
    ThinkSplitter,
    Thought,
    closed_block,
    thinking_budget,
    thinking_style,
)

pytestmark = pytest.mark.anyio


def _split(text: str, step: int, opened: bool = False) -> list[tuple[str, str]]:
    """``text`` fed ``step`` characters at a time, then flushed; pieces of a kind merged."""
    splitter = ThinkSplitter(opened)
    pieces = [p for i in range(0, len(text), step) for p in splitter.feed(text[i : i + step])]
    merged: list[tuple[str, str]] = []
    for kind, piece in [*pieces, *splitter.flush()]:
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + piece)
        else:
            merged.append((kind, piece))
    return merged


@pytest.mark.parametrize("step", [1, 2, 3, 7, 100])
def test_thinking_is_split_from_the_answer_however_it_streams(step: int) -> None:
    text = " <think>\nThe user wants 2+2. That is 4.\n</think>\n\nIt is 4."
    assert _split(text, step) == [
        ("reasoning", "\nThe user wants 2+2. That is 4.\n"),
        ("text", "It is 4."),
    ]
    assert _split("The user wants 2+2.</think>\n\nIt is 4.", step, opened=True) == [
        ("reasoning", "The user wants 2+2."),
        ("text", "It is 4."),
    ]


@pytest.mark.parametrize("step", [1, 4, 100])
def test_text_without_thinking_is_all_answer(step: int) -> None:
    assert _split("<b>Bold</b> answer", step) == [("text", "<b>Bold</b> answer")]
    assert _split("Plain answer", step) == [("text", "Plain answer")]
    assert _split("<th", step) == [("text", "<th")]  # ended before it was a tag


@pytest.mark.parametrize("step", [1, 3, 100])
def test_an_unclosed_block_is_all_thinking(step: int) -> None:
    assert _split("<think>Still going </thi", step) == [("reasoning", "Still going </thi")]
    assert _split("<think>", step) == []


def test_budgets_grow_with_effort_and_templates_are_classified() -> None:
    efforts = ("none", "minimal", "low", "medium", "high", "xhigh")
    budgets = [thinking_budget(e) or 0 for e in efforts]
    assert budgets[:2] == [0, 0] and budgets[1:] == sorted(set(budgets[1:]))
    assert thinking_budget(None) is None and REASONING_BUDGETS["max"] is None
    chatml = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    assert thinking_style(chatml) is None
    assert thinking_style(chatml + "{{ '<think>\\n' }}") == "opened"
    qwen3 = (
        chatml + "{% if enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}"
    )
    assert thinking_style(qwen3) == "switch"
    r1 = chatml + "{% if '</think>' in content %}{% endif %}"
    assert thinking_style(r1) == "may"
    assert closed_block("\nhmm\n") == "hmm\n</think>\n\n"
    assert closed_block("") == "\n</think>\n\n"


@dataclass(eq=False)  # hashed by identity, as an engine handle
class _Handle:
    request: GenerationRequest
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    cancelled: bool = False

    async def next(self) -> Event:
        return await self.events.get()

    def cancel(self) -> None:
        self.cancelled = True


def _text(choice: int, text: str) -> TokenDelta:
    """``text`` with one logprob entry per character (a token here)."""
    return TokenDelta(choice, text, tuple(LogprobEntry(c, (), 0.0) for c in text))


@dataclass
class _Model:
    """A served model whose every request answers with ``script(request)``'s events;
    a token is one character."""

    script: Callable[[GenerationRequest], list[Event]]
    context: int = 1000
    handles: list[_Handle] = field(default_factory=list)

    @property
    def info(self) -> Any:
        return type("Info", (), {"context_length": self.context})

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        return [ord(c) for c in text]

    def generate(self, request: GenerationRequest) -> _Handle:
        handle = _Handle(request)
        for event in self.script(request):
            handle.events.put_nowait(event)
        self.handles.append(handle)
        return handle


def _thinking(
    model: _Model, request: GenerationRequest, style: Style, budget: int | None
) -> Thinking:
    served: Any = model
    return Thinking(served, request, style, budget)


def _prompt(request: GenerationRequest) -> str:
    return "".join(map(chr, request.prompt))


GRAMMAR: Any = "json"  # stands for a compiled grammar


def _request(n: int = 1, max_tokens: int = 50) -> GenerationRequest:
    return GenerationRequest(
        prompt=[ord(c) for c in "Q:"],
        params=SamplingParams(seed=7),
        max_tokens=max_tokens,
        n=n,
        stop=("END",),
        grammar=GRAMMAR,
    )


async def _events(thinking: Thinking) -> list[Any]:
    out = [await thinking.next()]
    while not isinstance(out[-1], Completed):
        out.append(await thinking.next())
    return out


async def test_an_opened_block_is_closed_for_the_model_and_the_answer_constrained() -> None:
    def script(request: GenerationRequest) -> list[Event]:
        if request.stop == ("</think>",):  # thinking: both choices reach max_tokens
            assert request.grammar is None and request.params.top_logprobs == 0
            return [
                _text(0, "\nab"),
                _text(1, "abcd"),
                ChoiceFinished(0, "length"),
                ChoiceFinished(1, "length"),
                Completed(2, 7, 0),
            ]
        assert request.grammar == GRAMMAR and request.stop == ("END",) and request.n == 1
        return [_text(0, "ok"), ChoiceFinished(0, "stop"), Completed(len(request.prompt), 2)]

    model = _Model(script)
    events = await _events(_thinking(model, _request(n=2, max_tokens=4), "opened", None))
    thoughts = [(e.choice, e.text) for e in events if isinstance(e, Thought)]
    assert thoughts == [(0, "\nab"), (1, "abcd")]
    first, answer = model.handles[0], model.handles[1]
    assert first.request.max_tokens == 4  # unbounded: max_completion_tokens
    assert _prompt(answer.request) == "Q:ab\n</think>\n\n" and answer.request.max_tokens == 1
    assert answer.request.params.seed not in (None, 7)  # its own sampler stream
    # choice 1's thinking took all of max_completion_tokens: no answer
    assert len(model.handles) == 2 and ChoiceFinished(1, "length") in events
    assert [e for e in events if isinstance(e, TokenDelta)][0].text == "ok"
    done = events[-1]
    assert isinstance(done, Reasoned) and done.reasoning_tokens == 7
    assert done.completion_tokens == 9 and done.prompt_tokens == 2


async def test_budget_zero_writes_the_empty_block_once_for_every_choice() -> None:
    def script(request: GenerationRequest) -> list[Event]:
        return [_text(0, "a"), _text(1, "b"), ChoiceFinished(0, "stop"), ChoiceFinished(1, "stop")]

    model = _Model(lambda r: [*script(r), Completed(len(r.prompt), 2)])
    events = await _events(_thinking(model, _request(n=2), "switch", 0))
    (only,) = model.handles
    assert _prompt(only.request) == "Q:<think>\n\n</think>\n\n" and only.request.n == 2
    assert only.request.params.seed == 7
    assert not [e for e in events if isinstance(e, Thought)]
    assert events[-1].reasoning_tokens == 0 and events[-1].prompt_tokens == len("Q:<think>\n")


async def test_a_model_that_may_think_answers_from_the_prompt_when_it_does_not() -> None:
    def script(request: GenerationRequest) -> list[Event]:
        if request.stop == ("</think>",):
            return [_text(0, "Hel"), _text(0, "lo")]  # then cancelled
        return [_text(0, "Hi"), ChoiceFinished(0, "stop"), Completed(2, 2)]

    model = _Model(script)
    events = await _events(_thinking(model, _request(), "may", 4))
    first, answer = model.handles
    assert first.cancelled and first.request.max_tokens == 4 + len("<think>\n")
    assert _prompt(answer.request) == "Q:" and answer.request.max_tokens == 50
    assert [e.text for e in events if isinstance(e, TokenDelta)] == ["Hi"]
    assert events[-1].reasoning_tokens == 0 and events[-1].completion_tokens == 2


async def test_a_model_that_may_think_gets_its_block_closed() -> None:
    def script(request: GenerationRequest) -> list[Event]:
        if request.stop == ("</think>",):
            return [
                _text(0, "<th"),
                _text(0, "ink>\nhm"),
                ChoiceFinished(0, "stop"),
                Completed(2, 9),
            ]
        return [ChoiceFinished(0, "stop"), Completed(len(request.prompt), 0)]

    model = _Model(script)
    events = await _events(_thinking(model, _request(), "may", None))
    assert [e.text for e in events if isinstance(e, Thought)] == ["\nhm"]
    assert _prompt(model.handles[1].request) == "Q:<think>\nhm\n</think>\n\n"


async def test_a_failed_answer_raises_and_cancel_stops_everything() -> None:
    def script(request: GenerationRequest) -> list[Event]:
        if request.stop == ("</think>",):
            return [_text(0, "a"), ChoiceFinished(0, "length"), Completed(2, 1)]
        return [Failed(ServiceUnavailable("The engine is stopping."))]

    model = _Model(script)
    thinking = _thinking(model, _request(), "opened", 1)
    with pytest.raises(ServiceUnavailable):
        await _events(thinking)
    thinking.cancel()
    assert all(h.cancelled for h in model.handles)
