"""Prompt lookup decoding against the real bundled model, through the SDK: the default
engine drafts tokens from the context, and its answers equal those of an engine that
does not (``HEARTH_SPECULATIVE_TOKENS=0``), greedy or seeded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from hearth.services.container import Services
from tests.conftest import MODEL, NO_EOG, app_sdk
from tests.conftest import test_settings as settings_for

pytestmark = pytest.mark.anyio
ASK = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write the word 'hello' twenty times."},
]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    svc = Services.build(settings_for(tmp_path_factory.mktemp("plain"), speculative_tokens=0))
    yield svc
    svc.close()


@pytest.fixture
async def plain_client(plain: Services) -> AsyncIterator[openai.AsyncOpenAI]:
    async with app_sdk(plain) as c:
        yield c


def drafts(svc: Services) -> tuple[int, int]:
    stats = svc.registry.get(MODEL).stats
    return stats.draft_tokens, stats.accepted_draft_tokens


async def test_drafted_tokens_leave_a_greedy_answer_unchanged(
    client: openai.AsyncOpenAI,
    plain_client: openai.AsyncOpenAI,
    services: Services,
    plain: Services,
) -> None:
    body = dict(
        model=MODEL,
        messages=ASK,
        max_tokens=96,
        temperature=0,
        logit_bias=NO_EOG,
        logprobs=True,
        top_logprobs=2,
    )
    before = drafts(services)
    fast = await client.chat.completions.create(**body)  # type: ignore[call-overload]
    drafted, accepted = (a - b for a, b in zip(drafts(services), before, strict=True))
    slow = await plain_client.chat.completions.create(**body)  # type: ignore[call-overload]
    assert fast.choices[0].message.content == slow.choices[0].message.content
    assert fast.usage == slow.usage
    assert fast.choices[0].logprobs and slow.choices[0].logprobs
    fast_lp, slow_lp = fast.choices[0].logprobs.content, slow.choices[0].logprobs.content
    pairs = zip(fast_lp or [], slow_lp or [], strict=True)
    for a, b in pairs:  # a batched step rounds differently from a one-token step (F16)
        assert a.token == b.token and a.logprob == pytest.approx(b.logprob, abs=0.02)
    assert drafts(plain) == (0, 0)
    # "Hello, hello, hello, ...": most of it drafted and kept
    assert accepted > 60 and drafted >= accepted


async def test_a_seeded_answer_is_reproducible_with_drafts(client: openai.AsyncOpenAI) -> None:
    body = dict(model=MODEL, messages=ASK, max_tokens=64, temperature=0.8, seed=11)
    first = await client.chat.completions.create(**body)  # type: ignore[call-overload]
    again = await client.chat.completions.create(**body)  # type: ignore[call-overload]
    assert first.choices[0].message.content == again.choices[0].message.content
