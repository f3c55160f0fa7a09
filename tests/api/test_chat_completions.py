"""client.chat.completions.create through the SDK, in-process, on the real bundled model."""

from __future__ import annotations

import logging
import math

import openai
import pytest

from hearth.services.chat.prepare import prompt_tokens
from hearth.services.container import Services
from tests.conftest import MODEL, NO_EOG

pytestmark = pytest.mark.anyio
USER = [{"role": "user", "content": "Write one sentence about the sea."}]


async def test_plain_chat_shape_and_usage(client: openai.AsyncOpenAI, services: Services) -> None:
    out = await client.chat.completions.create(
        model=MODEL, messages=USER, max_tokens=8, temperature=0
    )
    assert out.id.startswith("chatcmpl-") and out.object == "chat.completion"
    assert out.model == MODEL
    assert out.system_fingerprint and out.system_fingerprint.startswith("fp_")
    choice = out.choices[0]
    assert choice.message.role == "assistant" and choice.message.refusal is None
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    served = services.registry.get(MODEL)
    expected_prompt = len(prompt_tokens(served, [{"role": "user", "content": USER[0]["content"]}]))
    assert out.usage is not None
    assert out.usage.prompt_tokens == expected_prompt
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens
    if choice.finish_reason == "length":
        assert out.usage.completion_tokens == 8


async def test_unknown_fields_are_accepted_and_logged(
    client: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hearth.services.chat.params")
    out = await client.chat.completions.create(
        model=MODEL,
        max_tokens=2,
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={"a_future_field": {"x": 1}},
    )
    assert out.choices[0].message.content is not None
    assert any("a_future_field" in r.getMessage() for r in caplog.records)


async def test_max_completion_tokens_gives_length(client: openai.AsyncOpenAI) -> None:
    out = await client.chat.completions.create(
        model=MODEL, messages=USER, max_completion_tokens=3, temperature=0, logit_bias=NO_EOG
    )
    assert out.choices[0].finish_reason == "length"
    assert out.usage is not None and out.usage.completion_tokens == 3


async def test_seed_reproduces_sampled_output(client: openai.AsyncOpenAI) -> None:
    async def run(seed: int) -> str:
        out = await client.chat.completions.create(
            model=MODEL, messages=USER, max_tokens=16, temperature=1.0, seed=seed
        )
        return out.choices[0].message.content or ""

    first = await run(1234)
    assert await run(1234) == first
    others = {await run(s) for s in (1, 2, 3)}
    assert len(others | {first}) > 1


async def test_stream_reassembles_to_non_streamed(client: openai.AsyncOpenAI) -> None:
    kwargs = dict(model=MODEL, messages=USER, max_tokens=20, temperature=0.8, seed=7)
    full = await client.chat.completions.create(**kwargs)
    stream = await client.chat.completions.create(
        **kwargs, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == [full.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage == full.usage
    assert all(c.usage is None for c in chunks[:-1])
    assert {c.id for c in chunks} == {chunks[0].id}


async def test_stream_without_usage_has_no_usage_chunk(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=USER, max_tokens=4, stream=True
    )
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


async def test_logprobs_shape_and_values(client: openai.AsyncOpenAI) -> None:
    out = await client.chat.completions.create(
        model=MODEL,
        messages=USER,
        max_tokens=10,
        temperature=0,
        logprobs=True,
        top_logprobs=5,
        logit_bias=NO_EOG,
    )
    content = out.choices[0].logprobs.content
    assert content is not None and len(content) == out.usage.completion_tokens
    assert "".join(t.token for t in content) == out.choices[0].message.content
    for tok in content:
        assert len(tok.top_logprobs) == 5
        probs = [math.exp(t.logprob) for t in tok.top_logprobs]
        assert sum(probs) <= 1 + 1e-6
        assert probs == sorted(probs, reverse=True)
        assert tok.logprob <= 0
        # greedy: the chosen token is the most likely one
        assert tok.top_logprobs[0].token == tok.token
        assert tok.top_logprobs[0].logprob == pytest.approx(tok.logprob)
        assert bytes(tok.bytes or []).decode("utf-8", "replace") == tok.token


async def test_stop_sequence_across_tokens_is_not_emitted(client: openai.AsyncOpenAI) -> None:
    kwargs = dict(
        model=MODEL, messages=USER, temperature=0, max_tokens=30, logit_bias=NO_EOG, logprobs=True
    )
    base = await client.chat.completions.create(**kwargs)
    text = base.choices[0].message.content
    tokens = [t.token for t in base.choices[0].logprobs.content]
    # a stop string that starts inside one token and ends inside the next
    cut = len(tokens[0]) + len(tokens[1]) + len(tokens[2])
    stop = text[cut - 2 : cut + 2]
    assert len(stop) == 4 and text.index(stop) <= cut - 2
    out = await client.chat.completions.create(**kwargs, stop=[stop, "never-appears"])
    assert out.choices[0].finish_reason == "stop"
    assert out.choices[0].message.content == text[: text.index(stop)]
    stream = await client.chat.completions.create(**kwargs, stop=stop, stream=True)
    streamed = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert streamed == text[: text.index(stop)]


async def test_n_choices(client: openai.AsyncOpenAI) -> None:
    out = await client.chat.completions.create(
        model=MODEL,
        messages=USER,
        n=3,
        max_tokens=12,
        temperature=1.0,
        seed=3,
        logprobs=True,
        logit_bias=NO_EOG,
    )
    assert [c.index for c in out.choices] == [0, 1, 2]
    assert len({c.message.content for c in out.choices}) > 1
    per_choice = sum(len(c.logprobs.content) for c in out.choices)
    assert out.usage is not None and out.usage.completion_tokens == per_choice == 36


async def test_n_choices_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=USER, n=2, max_tokens=5, stream=True, seed=1
    )
    finished = sorted([c.choices[0].index async for c in stream if c.choices[0].finish_reason])
    assert finished == [0, 1]


async def test_logit_bias_forces_a_token(client: openai.AsyncOpenAI, services: Services) -> None:
    served = services.registry.get(MODEL)
    [token] = served.tokenize(" banana", special=False)[:1]
    out = await client.chat.completions.create(
        model=MODEL, messages=USER, max_tokens=3, logit_bias={str(token): 100}
    )
    piece = served.detokenize([token])
    assert out.choices[0].message.content == piece * 3


async def test_content_parts_system_developer_and_extras(client: openai.AsyncOpenAI) -> None:
    parts = [
        {"type": "text", "text": "Write one sentence "},
        {"type": "text", "text": "about the sea."},
    ]
    common = dict(model=MODEL, max_tokens=6, temperature=0)
    a = await client.chat.completions.create(
        messages=[{"role": "user", "content": parts}], **common
    )
    b = await client.chat.completions.create(
        messages=USER, **common, user="u-1", metadata={"k": "v"}, store=False
    )
    assert a.choices[0].message.content == b.choices[0].message.content
    c = await client.chat.completions.create(
        messages=[
            {"role": "developer", "content": "Answer in French."},
            {"role": "system", "content": "Be brief."},
            *USER,
            {"role": "assistant", "content": "The sea is wide."},
            {"role": "user", "content": "Another."},
        ],
        **common,
    )
    assert c.choices[0].message.content


async def test_service_tier_is_echoed_as_the_tier_used(client: openai.AsyncOpenAI) -> None:
    for tier in ("auto", "default", "flex", "priority"):
        out = await client.chat.completions.create(
            model=MODEL,
            max_tokens=2,
            messages=USER,
            service_tier=tier,  # type: ignore[arg-type]
        )
        assert out.service_tier == "default"
        stream = await client.chat.completions.create(
            model=MODEL,
            max_tokens=2,
            messages=USER,
            service_tier=tier,
            stream=True,  # type: ignore[arg-type]
        )
        assert {c.service_tier async for c in stream} == {"default"}
    plain = await client.chat.completions.create(model=MODEL, max_tokens=2, messages=USER)
    assert plain.service_tier is None
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model=MODEL,
            max_tokens=2,
            messages=USER,
            service_tier="gold",  # type: ignore[arg-type]
        )
    assert caught.value.param == "service_tier"


async def test_ignored_parameters_are_logged_once(
    client: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hearth.services.chat.params")
    for _ in range(2):
        out = await client.chat.completions.create(
            model=MODEL,
            max_tokens=2,
            messages=USER,
            verbosity="low",
            safety_identifier="user-1",
            extra_body={"web_search_options": {}},
        )
        assert out.choices[0].message.content is not None
    notes = [r.getMessage() for r in caplog.records if "verbosity" in r.getMessage()]
    assert len(notes) == 1 and "web_search_options" in notes[0]


@pytest.mark.parametrize(
    ("kw", "code", "param"),
    [
        ({"n": 129}, None, "n"),
        ({"n": 1_000_000}, None, "n"),
        ({"max_completion_tokens": 2**40}, "context_length_exceeded", "messages"),
        ({"max_tokens": 2**40}, "context_length_exceeded", "messages"),
        (  # in extra_body: the SDK's own transform of typed params takes seconds
            {"extra_body": {"messages": [{"role": "user", "content": "hi"}] * 100_000}},
            "context_length_exceeded",
            "messages",
        ),
        (
            {"extra_body": {"messages": [{"role": "user", "content": "sea " * 1_000_000}]}},
            "context_length_exceeded",
            "messages",
        ),
    ],
    ids=["n", "huge-n", "max_completion_tokens", "max_tokens", "100k-messages", "4mb-message"],
)
async def test_huge_requests_are_clear_400s(
    client: openai.AsyncOpenAI, kw: dict[str, object], code: str | None, param: str
) -> None:
    kw = {"model": MODEL, "messages": USER, **kw}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(**kw)  # type: ignore[call-overload]
    assert caught.value.code == code
    assert caught.value.param == param
