"""``client.completions.create`` (legacy Completions) through the SDK: raw prompts (text or
token ids, one or many), ``n``, ``best_of``, ``echo``, ``logprobs``, ``stop``, streaming,
and OpenAI's errors."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from hearth.services.container import Services
from tests.conftest import MODEL, NO_EOG

pytestmark = pytest.mark.anyio

PROMPT = "The capital of France is"


async def complete(client: openai.AsyncOpenAI, **overrides: Any) -> openai.types.Completion:
    body: dict[str, Any] = {"model": MODEL, "prompt": PROMPT, "max_tokens": 8, "temperature": 0}
    body.update(overrides)
    return await client.completions.create(**body)


def tokens_of(services: Services, text: str) -> list[int]:
    return services.registry.get(MODEL).tokenize(text, special=True)


async def test_prompt_is_continued_as_raw_text(
    client: openai.AsyncOpenAI, services: Services
) -> None:
    out = await complete(client)
    assert out.object == "text_completion" and out.id.startswith("cmpl-")
    assert out.model == MODEL and out.system_fingerprint
    [choice] = out.choices
    assert choice.index == 0 and choice.text and choice.logprobs is None
    assert choice.finish_reason in ("stop", "length")
    # no chat template around it: the prompt costs exactly its own tokens
    assert out.usage and out.usage.prompt_tokens == len(tokens_of(services, PROMPT))
    chat = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=1
    )
    assert chat.usage and chat.usage.prompt_tokens > out.usage.prompt_tokens


async def test_token_ids_are_the_same_prompt_as_their_text(
    client: openai.AsyncOpenAI, services: Services
) -> None:
    as_text = await complete(client)
    as_ids = await complete(client, prompt=tokens_of(services, PROMPT))
    assert as_ids.choices[0].text == as_text.choices[0].text
    echoed = await complete(client, prompt=tokens_of(services, PROMPT), echo=True)
    assert echoed.choices[0].text == PROMPT + as_text.choices[0].text


async def test_many_prompts_times_n_choices(client: openai.AsyncOpenAI, services: Services) -> None:
    prompts = ["Once upon a time", "1, 2, 3,", "Dear Sir,"]
    out = await complete(client, prompt=prompts, n=2, temperature=1, max_tokens=3)
    assert [c.index for c in out.choices] == list(range(6))
    assert out.usage and out.usage.prompt_tokens == sum(
        len(tokens_of(services, p)) for p in prompts
    )
    ids = await complete(client, prompt=[tokens_of(services, p) for p in prompts[:2]])
    assert [c.index for c in ids.choices] == [0, 1]


async def test_logprobs_describe_every_token(client: openai.AsyncOpenAI) -> None:
    out = await complete(client, logprobs=3, max_tokens=6, logit_bias=NO_EOG)
    [choice] = out.choices
    lp = choice.logprobs
    assert lp and lp.tokens and lp.token_logprobs and lp.top_logprobs and lp.text_offset
    assert out.usage and len(lp.tokens) == out.usage.completion_tokens == 6
    assert "".join(lp.tokens) == choice.text
    assert all(x <= 0 for x in lp.token_logprobs)
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert token in top and top[token] == logprob and 3 <= len(top) <= 4
    # offsets count characters of prompt + completion
    assert lp.text_offset[0] == len(PROMPT)
    steps = [b - a for a, b in zip(lp.text_offset, lp.text_offset[1:], strict=False)]
    assert steps == [len(t) for t in lp.tokens[:-1]]


async def test_stop_sequence_ends_the_text_before_it(client: openai.AsyncOpenAI) -> None:
    free = (await complete(client, max_tokens=12, logit_bias=NO_EOG)).choices[0].text
    cut = free[len(free) // 2 :].strip()[:3]
    assert cut
    stopped = await complete(client, max_tokens=12, logit_bias=NO_EOG, stop=[cut])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].text == free[: free.index(cut)]


async def test_max_tokens_defaults_to_16_and_may_be_0(client: openai.AsyncOpenAI) -> None:
    out = await client.completions.create(
        model=MODEL, prompt=PROMPT, logit_bias=NO_EOG, temperature=0
    )
    assert out.usage and out.usage.completion_tokens == 16
    assert out.choices[0].finish_reason == "length"
    nothing = await complete(client, max_tokens=0, echo=True)
    assert nothing.choices[0].text == PROMPT and nothing.choices[0].finish_reason == "length"
    assert nothing.usage and nothing.usage.completion_tokens == 0


async def test_best_of_returns_n_and_bills_every_candidate(client: openai.AsyncOpenAI) -> None:
    out = await complete(client, best_of=3, n=1, temperature=1, max_tokens=4, logit_bias=NO_EOG)
    assert len(out.choices) == 1 and out.choices[0].index == 0
    assert out.usage and out.usage.completion_tokens == 12


async def test_stream_matches_the_whole(client: openai.AsyncOpenAI) -> None:
    whole = await complete(client, prompt=["Hello", "Dear Sir,"], seed=7, temperature=1)
    chunks = [
        c
        async for c in await client.completions.create(
            model=MODEL,
            prompt=["Hello", "Dear Sir,"],
            max_tokens=8,
            seed=7,
            temperature=1,
            stream=True,
            stream_options={"include_usage": True},
        )
    ]
    assert len({c.id for c in chunks}) == 1
    *pieces, last = chunks
    assert last.choices == [] and last.usage == whole.usage
    for choice in whole.choices:
        mine = [c.choices[0] for c in pieces if c.choices[0].index == choice.index]
        assert "".join(p.text for p in mine) == choice.text
        assert [p.finish_reason for p in mine][-1] == choice.finish_reason
        assert all(p.finish_reason is None for p in mine[:-1])


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"suffix": "and that is all."}, "suffix"),
        ({"echo": True, "logprobs": 1}, "echo"),
        ({"best_of": 1, "n": 2}, "best_of"),
        ({"best_of": 3, "stream": True}, "best_of"),
        ({"prompt": [10**9]}, "prompt"),
        ({"prompt": []}, "prompt"),
        ({"prompt": ["x"] * 129}, "prompt"),
        ({"max_tokens": 10**6}, "prompt"),
        ({"logprobs": 6}, "logprobs"),
        ({"max_tokens": -1}, "max_tokens"),
    ],
)
async def test_bad_requests_are_400_naming_the_parameter(
    client: openai.AsyncOpenAI, overrides: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await complete(client, **overrides)
    assert caught.value.param == param


async def test_unknown_model_is_404(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await complete(client, model="davinci-002")
    assert caught.value.code == "model_not_found"
