"""A thinking model through the SDK: a real GGUF (``tests/thinking_model.py``) served with
``HEARTH_MODELS``. Its thinking comes back apart from the answer (``reasoning_content``,
``reasoning_tokens``, Responses ``reasoning`` items), bounded by ``reasoning_effort``
(small test budgets: SmolLM2 never closes the block itself, so Hearth closes it when the
budget is spent), with the answer constrained as the request says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from fastapi import FastAPI

from hearth.app import create_app
from hearth.engine.chat_format import render_chat
from hearth.errors import InvalidRequest
from hearth.services.chat.reasoning import thinking_style
from hearth.services.container import Services
from tests.conftest import API_KEY, NO_EOG
from tests.conftest import test_settings as settings_for
from tests.contract import check
from tests.thinking_model import THINKING_TEMPLATE, write_thinking_gguf

pytestmark = pytest.mark.anyio
THINKER = "smollm2-thinking"
BUDGETS = {"none": 0, "minimal": 0, "low": 4, "medium": 8, "high": 12, "xhigh": 16, "max": None}
# a developer message: the template refuses roles it does not know
MESSAGES: list[Any] = [
    {"role": "developer", "content": "Answer briefly."},
    {"role": "user", "content": "What is 2+2?"},
]
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="session")
def thinking_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_thinking_gguf(tmp_path_factory.mktemp("thinking") / "thinking.gguf")


@pytest.fixture(scope="module")
def thinking(tmp_path_factory: pytest.TempPathFactory, thinking_gguf: Path) -> Iterator[Services]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HEARTH_MODELS", json.dumps([f"{thinking_gguf}={THINKER}"]))
        # one llama.cpp thread: the suite shares its cores
        settings = settings_for(
            tmp_path_factory.mktemp("hearth-thinking"),
            bundled_models=False,
            weight_format="original",
            threads=1,
            kv_cache_tokens=4096,
        )
    svc = Services.build(settings)
    svc.chat.reasoning_budgets = BUDGETS
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def app(thinking: Services) -> FastAPI:
    """conftest's ``http`` and ``client`` fixtures, on the thinking model's server."""
    return create_app(thinking.settings, thinking)


def _reasoning(message: Any) -> str:
    """A message's or delta's ``reasoning_content`` (there must be one)."""
    text = (message.model_extra or {})["reasoning_content"]
    assert isinstance(text, str)
    return text


def test_the_fixture_template_thinks_and_refuses_unknown_roles() -> None:
    assert thinking_style(THINKING_TEMPLATE) == "opened"
    with pytest.raises(InvalidRequest):
        render_chat(THINKING_TEMPLATE, [{"role": "critic", "content": "x"}])
    assert "<|im_start|>system\nAnswer briefly." in render_chat(THINKING_TEMPLATE, MESSAGES)


async def test_effort_sets_the_thinking_budget(http: httpx2.AsyncClient) -> None:
    spent = {}
    for effort in ("low", "high"):
        body = {
            "model": THINKER,
            "messages": MESSAGES,
            "reasoning_effort": effort,
            "max_completion_tokens": 20,
            "logit_bias": NO_EOG,
            "logprobs": True,
            "seed": 1,
        }
        response = await http.post("/v1/chat/completions", headers=AUTH, json=body)
        assert response.status_code == 200, response.text
        out: Any = check("chat.completion", response.content)
        message, usage = out.choices[0].message, out.usage
        assert _reasoning(message).strip() and message.content.strip()
        assert "<think>" not in message.content and "</think>" not in message.content
        spent[effort] = usage.completion_tokens_details.reasoning_tokens
        assert spent[effort] == BUDGETS[effort]
        # thinking and answer share max_completion_tokens; logprobs cover the answer
        assert usage.completion_tokens == 20 and out.choices[0].finish_reason == "length"
        tokens = out.choices[0].logprobs.content
        assert len(tokens) == 20 - spent[effort]
        assert "".join(t.token for t in tokens) == message.content
    assert spent["low"] < spent["high"]


async def test_a_stream_sends_the_same_thinking_then_answer(client: openai.AsyncOpenAI) -> None:
    kwargs: Any = dict(
        model=THINKER,
        messages=MESSAGES,
        reasoning_effort="medium",
        max_completion_tokens=16,
        logit_bias=NO_EOG,
        seed=5,
    )
    full = await client.chat.completions.create(**kwargs)
    stream = await client.chat.completions.create(
        **kwargs, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    thought = [_reasoning(d) for d in deltas if (d.model_extra or {}).get("reasoning_content")]
    answer = [d.content for d in deltas if d.content]
    assert "".join(thought) == _reasoning(full.choices[0].message)
    assert "".join(answer) == full.choices[0].message.content
    last_thought = max(i for i, d in enumerate(deltas) if d.model_extra)
    assert last_thought < min(i for i, d in enumerate(deltas) if d.content)
    assert chunks[-1].usage == full.usage
    assert full.usage is not None and full.usage.completion_tokens_details is not None
    assert full.usage.completion_tokens_details.reasoning_tokens == 8


async def test_no_thinking_at_effort_none_and_no_answer_when_thinking_takes_all(
    client: openai.AsyncOpenAI,
) -> None:
    out = await client.chat.completions.create(
        model=THINKER, messages=MESSAGES, reasoning_effort="none", max_completion_tokens=6
    )
    assert _reasoning(out.choices[0].message) == "" and out.choices[0].message.content
    assert out.usage is not None and out.usage.completion_tokens_details is not None
    assert out.usage.completion_tokens_details.reasoning_tokens == 0
    # no effort: thinking is bounded by max_completion_tokens alone, as OpenAI's is
    out = await client.chat.completions.create(
        model=THINKER, messages=MESSAGES, max_completion_tokens=6, logit_bias=NO_EOG
    )
    assert _reasoning(out.choices[0].message) and out.choices[0].message.content == ""
    assert out.choices[0].finish_reason == "length"
    assert out.usage is not None and out.usage.completion_tokens_details is not None
    assert out.usage.completion_tokens_details.reasoning_tokens == 6


async def test_structured_outputs_and_tools_constrain_the_answer_only(
    client: openai.AsyncOpenAI,
) -> None:
    schema = {
        "type": "object",
        "properties": {"even": {"type": "boolean"}},
        "required": ["even"],
        "additionalProperties": False,
    }
    out = await client.chat.completions.create(
        model=THINKER,
        messages=[{"role": "user", "content": "Is 4 even? Answer in JSON."}],
        reasoning_effort="low",
        max_completion_tokens=40,
        seed=2,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "parity", "schema": schema, "strict": True},
        },
    )
    message = out.choices[0].message
    assert _reasoning(message) and "</think>" not in (message.content or "")
    assert isinstance(json.loads(message.content or "")["even"], bool)
    tool: Any = {
        "type": "function",
        "function": {
            "name": "weather",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
    out = await client.chat.completions.create(
        model=THINKER,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        reasoning_effort="low",
        max_completion_tokens=40,
        seed=2,
        tools=[tool],
        tool_choice="required",
    )
    choice = out.choices[0]
    assert _reasoning(choice.message) and choice.finish_reason == "tool_calls"
    calls: Any = choice.message.tool_calls
    assert json.loads(calls[0].function.arguments)["city"] in ("Paris", "Rome")


async def test_each_of_n_choices_thinks(client: openai.AsyncOpenAI) -> None:
    out = await client.chat.completions.create(
        model=THINKER,
        messages=MESSAGES,
        n=2,
        reasoning_effort="low",
        max_completion_tokens=8,
        logit_bias=NO_EOG,
    )
    assert [c.index for c in out.choices] == [0, 1]
    assert all(_reasoning(c.message) and c.message.content for c in out.choices)
    assert out.usage is not None and out.usage.completion_tokens_details is not None
    assert out.usage.completion_tokens_details.reasoning_tokens == 8
    assert out.usage.completion_tokens == 16


async def test_responses_get_a_reasoning_item(client: openai.AsyncOpenAI) -> None:
    events = [
        e
        async for e in await client.responses.create(
            model=THINKER,
            input="What is 2+2?",
            instructions="Answer briefly.",
            reasoning={"effort": "low"},
            max_output_tokens=16,
            temperature=0,  # sampled, the tiny thinker sometimes writes "<think>" as its answer
            stream=True,
        )
    ]
    types = [e.type for e in events]
    assert types.index("response.reasoning_text.done") < types.index("response.output_text.delta")
    final: Any = events[-1].response  # type: ignore[union-attr]
    reasoning, message = final.output
    thought = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    assert reasoning.type == "reasoning" and reasoning.content[0].text == thought != ""
    assert message.type == "message" and "<think>" not in final.output_text
    assert 0 < final.usage.output_tokens_details.reasoning_tokens <= BUDGETS["low"]
    assert final.reasoning.effort == "low"
