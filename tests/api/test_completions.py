"""``client.completions.create`` (legacy Completions) through the SDK: raw prompts (text or
token ids, one or many), ``n``, ``best_of``, ``echo``, ``logprobs`` (of the prompt too),
``suffix``, ``stop``, streaming, OpenAI's errors, and the bundled base model
(gemma-3-270m) that serves them beside the chat model."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import openai
import pytest

from hearth.engine.registry import LazyModel, ModelRegistry
from hearth.engine.weights import BUNDLED_BASE_MODEL, VocabFacts
from hearth.services import completions
from hearth.services.container import Services
from tests.conftest import API_KEY, MODEL, NO_EOG
from tests.conftest import test_settings as settings_for

pytestmark = pytest.mark.anyio

PROMPT = "The capital of France is"
BASE = BUNDLED_BASE_MODEL


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
        ({"suffix": "and that is all.", "model": BASE}, "suffix"),
        ({"suffix": "and that is all.", "echo": True}, "echo"),
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


async def test_echo_with_logprobs_scores_the_prompt(client: openai.AsyncOpenAI) -> None:
    # lm-evaluation-harness's loglikelihood request, with max_tokens 0 and 1
    scored = await complete(client, echo=True, logprobs=1, max_tokens=0)
    [choice] = scored.choices
    lp = choice.logprobs
    assert choice.text == PROMPT and choice.finish_reason == "length"
    assert scored.usage and scored.usage.completion_tokens == 0
    assert lp and lp.tokens and lp.token_logprobs and lp.top_logprobs and lp.text_offset
    assert len(lp.tokens) == scored.usage.prompt_tokens and "".join(lp.tokens) == PROMPT
    # nothing precedes the first token: null, as OpenAI sends it
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
    rows = zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True)
    for token, logprob, top in list(rows)[1:]:
        assert logprob < 0 and top[token] == logprob and 1 <= len(top) <= 2
        assert max(top.values()) >= logprob
    one = await complete(client, echo=True, logprobs=1, max_tokens=1, logit_bias=NO_EOG)
    more = one.choices[0].logprobs
    assert more and more.tokens and more.token_logprobs and more.text_offset
    assert more.tokens[:-1] == lp.tokens and more.token_logprobs[:-1] == lp.token_logprobs
    assert one.choices[0].text == PROMPT + more.tokens[-1]
    assert more.text_offset[-1] == len(PROMPT)


async def test_prompt_logprobs_match_the_generated_tokens(client: openai.AsyncOpenAI) -> None:
    # scoring a text the model wrote gives back the logprobs it reported writing it
    wrote = await complete(client, logprobs=0, max_tokens=6)
    generated = wrote.choices[0].logprobs
    assert generated and generated.tokens and generated.token_logprobs
    scored = await complete(
        client, prompt=PROMPT + wrote.choices[0].text, echo=True, logprobs=0, max_tokens=0
    )
    lp = scored.choices[0].logprobs
    assert lp and lp.tokens and lp.token_logprobs
    k = len(generated.tokens)
    assert lp.tokens[-k:] == generated.tokens
    # one batched forward pass against token-by-token decoding: rounding differs a little
    assert lp.token_logprobs[-k:] == pytest.approx(generated.token_logprobs, abs=0.02)


async def test_echoed_logprobs_stream_and_go_on_the_wire_with_a_null(
    client: openai.AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": 3, "echo": True, "logprobs": 2}
    body |= {"temperature": 0, "logit_bias": NO_EOG}
    auth = {"Authorization": f"Bearer {API_KEY}"}
    raw = await http.post("/v1/completions", json=body, headers=auth)
    wire = raw.json()["choices"][0]["logprobs"]
    assert wire["token_logprobs"][0] is None and wire["top_logprobs"][0] is None
    chunks = [c async for c in await client.completions.create(**body, stream=True)]
    first = chunks[0].choices[0]
    assert first.text == PROMPT and first.finish_reason is None
    assert first.logprobs and first.logprobs.tokens and first.logprobs.token_logprobs
    assert first.logprobs.token_logprobs[0] is None
    pieces = [c.choices[0] for c in chunks]
    assert "".join(p.text for p in pieces) == PROMPT + "".join(wire["tokens"][-3:])
    streamed = [t for p in pieces if p.logprobs for t in p.logprobs.tokens or []]
    offsets = [o for p in pieces if p.logprobs for o in p.logprobs.text_offset or []]
    assert streamed == wire["tokens"] and offsets == wire["text_offset"]


async def test_best_of_keeps_the_highest_mean_logprob(client: openai.AsyncOpenAI) -> None:
    # the same seed draws the same candidates; best_of returns the one OpenAI calls best
    # ("the highest log probability per token")
    body: dict[str, Any] = {"temperature": 1.5, "seed": 11, "max_tokens": 5, "logprobs": 0}
    every = await complete(client, n=4, **body)
    means = []
    for c in every.choices:
        assert c.logprobs and c.logprobs.token_logprobs
        means.append(sum(c.logprobs.token_logprobs) / len(c.logprobs.token_logprobs))
    best = await complete(client, best_of=4, **body)
    assert best.choices[0].text == every.choices[means.index(max(means))].text


async def test_suffix_builds_a_fill_in_the_middle_prompt(
    client: openai.AsyncOpenAI, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # neither bundled model has FIM tokens: give the chat model three stand-ins
    fim = (1, 2, 3)
    monkeypatch.setattr(completions, "vocab_facts", lambda path: VocabFacts(None, fim))
    served = services.registry.get(MODEL)
    facts = VocabFacts(9, fim)
    inside, after = tokens_of(services, "def f("), tokens_of(services, ")")
    for prompt, tokens in [("def f(", [9, 1, *inside, 2]), ([7, 8], [1, 7, 8, 2])]:
        params = completions.CompletionParams(model=MODEL, prompt=prompt, suffix=")")
        [built] = completions._prompts(params, served, facts)
        assert built.tokens == [*tokens, *after, 3]  # token ids get no BOS
    out = await complete(client, prompt="def f(", suffix=")", max_tokens=2)
    assert out.usage and out.usage.prompt_tokens == len(inside) + 4


async def test_bundled_base_model_is_listed_and_loads_once_on_first_use(
    services: Services,
) -> None:
    # a second registry on the session's data dir, where the weights are assembled and
    # converted once
    registry = ModelRegistry.load(settings_for(services.settings.data_dir).engine)
    try:
        listed = registry.list()[1]
        assert isinstance(listed, LazyModel) and listed.id == BASE  # listed, not loaded
        assert [m.id for m in registry.loaded()] == [MODEL]
        first, again = await asyncio.gather(registry.aget(BASE), registry.aget(BASE))
        assert first is again and registry.list()[1] is first
        assert first.created == listed.created and first.owner is None
        assert [m.id for m in registry.loaded()] == [MODEL, BASE]
    finally:
        registry.close()


async def test_bundled_base_model_completes_raw_text_and_refuses_chat(
    client: openai.AsyncOpenAI, services: Services
) -> None:
    out = await complete(client, model=BASE, echo=True, logprobs=1, max_tokens=2)
    assert out.model == BASE and out.choices[0].text.startswith(PROMPT)
    assert [m.id for m in (await client.models.list()).data][:2] == [MODEL, BASE]
    words = services.registry.get(BASE).tokenize(PROMPT, special=True)
    assert out.usage and out.usage.prompt_tokens == len(words) + 1  # BOS first, as Gemma needs
    lp = out.choices[0].logprobs
    assert lp and lp.tokens and lp.token_logprobs
    assert lp.tokens[0] == "" and lp.token_logprobs[0] is None  # BOS spells nothing
    assert "".join(lp.tokens) == out.choices[0].text
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model=BASE, messages=[{"role": "user", "content": "Hi"}], max_tokens=1
        )
    assert caught.value.param == "messages" and "base model" in caught.value.message
