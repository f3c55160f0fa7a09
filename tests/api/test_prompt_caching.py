"""Automatic prompt caching through the SDK against the real bundled model.

OpenAI's rules (platform guide, "Prompt caching"): ``cached_tokens`` is 0 below 1,024
tokens, otherwise 1,024 + 128·k of reused prefix; output never depends on a hit; caches
are never shared between organizations; idle entries expire. Most tests run the cache in
its exact mode, where no hit changes a logit; the last ones run the default mode, which
reuses down to the token and a conversation's previous answer.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletion

from hearth.engine.scheduler import EngineStats
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.chat.prepare import generation_request
from hearth.services.container import Services
from hearth.store.db import session_factory
from hearth.store.models import Organization, Project
from tests.conftest import API_KEY, MODEL, NO_EOG, app_sdk
from tests.conftest import test_settings as settings_for

pytestmark = pytest.mark.anyio
BLOCK_BYTES = 2_951_400  # one 128-token block of SmolLM2-135M's F16 KV, as llama.cpp saves it


class FakeClock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


def build(tmp: Path, clock: FakeClock, **overrides: object) -> Services:
    settings = settings_for(
        tmp,
        context_length=8192,
        kv_cache_tokens=16384,
        prompt_cache_idle_ttl=300,
        prompt_cache_max_lifetime=600,
        **overrides,
    )
    return Services.build(settings, clock)


@pytest.fixture(scope="module")
def caching(tmp_path_factory: pytest.TempPathFactory, clock: FakeClock) -> Iterator[Services]:
    svc = build(tmp_path_factory.mktemp("cache"), clock, prompt_cache_exact=True)
    yield svc
    svc.close()


def other_org_key(svc: Services, *, same_org: bool = False) -> str:
    """A key of a new project, in a new organization unless ``same_org``."""
    with session_factory(svc.db).begin() as s:
        if same_org:
            org_id = svc.api_keys.verify(API_KEY).organization_id  # type: ignore[union-attr]
        else:
            org = Organization(name="Other org")
            s.add(org)
            s.flush()
            org_id = org.id
        project = Project(organization_id=org_id, name="Other project")
        s.add(project)
        s.flush()
        project_id = project.id
    return svc.api_keys.create(project_id, "test")[0]


@pytest.fixture
async def client(caching: Services) -> AsyncIterator[openai.AsyncOpenAI]:
    async with app_sdk(caching) as c:
        yield c


def messages(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def prompt_tokens(svc: Services, system: str, user: str) -> list[int]:
    served = svc.registry.get(MODEL)
    params = ChatCompletionParams.model_validate(
        {"model": MODEL, "messages": messages(system, user)}
    )
    return generation_request(params, served)[0].prompt


def shared_system(svc: Services, n_tokens: int, tag: str) -> str:
    """A system message whose prompts with users "Alpha…"/"Zulu…" share exactly
    ``n_tokens`` leading tokens (" ok" is one token each)."""

    def common(k: int) -> int:
        a = prompt_tokens(svc, f"Session {tag}." + " ok" * k, "Alpha, answer briefly.")
        b = prompt_tokens(svc, f"Session {tag}." + " ok" * k, "Zulu, answer briefly.")
        return len(os.path.commonprefix([a, b]))

    k = max(n_tokens - common(0), 0)
    for _ in range(5):
        got = common(k)
        if got == n_tokens:
            return f"Session {tag}." + " ok" * k
        k += n_tokens - got
    raise AssertionError(f"could not build a {n_tokens}-token prefix")


async def ask(
    client: openai.AsyncOpenAI,
    system: str,
    user: str,
    **kw: object,
) -> ChatCompletion:
    body: dict[str, object] = dict(max_tokens=8, temperature=0)
    body.update(kw)
    return await client.chat.completions.create(
        model=MODEL, messages=messages(system, user), **body
    )  # type: ignore[call-overload]


def cached(response: ChatCompletion) -> int:
    assert response.usage and response.usage.prompt_tokens_details
    return response.usage.prompt_tokens_details.cached_tokens or 0


def engine(svc: Services) -> EngineStats:
    return svc.registry.get(MODEL).stats


async def idle(svc: Services) -> EngineStats:
    for _ in range(400):
        stats = engine(svc)
        if not stats.active_requests and not stats.kv_positions:
            return stats
        await asyncio.sleep(0.05)
    raise AssertionError("engine never went idle")


@pytest.mark.parametrize(
    ("prefix", "expected"), [(1023, 0), (1024, 1024), (1151, 1024), (1152, 1152), (4000, 3968)]
)
async def test_cached_tokens_follow_openais_rule(
    caching: Services, client: openai.AsyncOpenAI, prefix: int, expected: int
) -> None:
    system = shared_system(caching, prefix, f"rule-{prefix}")
    first = await ask(client, system, "Alpha, answer briefly.")
    assert cached(first) == 0
    second = await ask(client, system, "Zulu, answer briefly.")
    assert cached(second) == expected
    assert second.usage and second.usage.prompt_tokens > prefix
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=messages(system, "Yankee, answer in one word."),  # type: ignore[arg-type]
        max_tokens=4,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = [chunk.usage async for chunk in stream if chunk.usage]
    assert len(usage) == 1 and usage[0].prompt_tokens_details
    assert usage[0].prompt_tokens_details.cached_tokens == expected


async def test_a_hit_never_changes_the_output(
    caching: Services, client: openai.AsyncOpenAI
) -> None:
    system = shared_system(caching, 1300, "same-output")
    user = "Alpha, answer briefly."
    await idle(caching)
    greedy_cold = await ask(client, system, user, max_tokens=24)
    greedy_hit = await ask(client, system, user, max_tokens=24)
    assert (cached(greedy_cold), cached(greedy_hit)) == (0, 1280)
    assert greedy_hit.choices[0].message.content == greedy_cold.choices[0].message.content
    async with app_sdk(caching, other_org_key(caching)) as other:
        sampled_cold = await ask(
            other, system, user, max_tokens=24, temperature=1.0, seed=7, logit_bias=NO_EOG
        )
    sampled_hit = await ask(
        client, system, user, max_tokens=24, temperature=1.0, seed=7, logit_bias=NO_EOG
    )
    assert (cached(sampled_cold), cached(sampled_hit)) == (0, 1280)
    assert sampled_hit.choices[0].message.content == sampled_cold.choices[0].message.content


async def test_organizations_never_share_a_cache_but_projects_do(
    caching: Services, client: openai.AsyncOpenAI
) -> None:
    system = shared_system(caching, 1200, "tenants")
    user = "Alpha, answer briefly."
    assert cached(await ask(client, system, user)) == 0
    async with app_sdk(caching, other_org_key(caching)) as other:
        assert cached(await ask(other, system, user)) == 0
        assert cached(await ask(other, system, user)) == 1152  # its own entry now
    async with app_sdk(caching, other_org_key(caching, same_org=True)) as sibling:
        assert cached(await ask(sibling, system, user)) == 1152


async def test_idle_entries_expire_and_none_outlives_max_lifetime(
    caching: Services, client: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    system = shared_system(caching, 1100, "ttl")
    user = "Alpha, answer briefly."
    assert cached(await ask(client, system, user)) == 0
    clock.now += 250
    assert cached(await ask(client, system, user)) == 1024  # idle 250 s < 300 s
    clock.now += 250
    assert cached(await ask(client, system, user)) == 1024  # 500 s old, used 250 s ago
    clock.now += 101
    assert cached(await ask(client, system, user)) == 0  # 601 s old: past max_lifetime
    clock.now += 301
    assert cached(await ask(client, system, user)) == 0  # idle 301 s: dropped
    assert engine(caching).prompt_cache.evicted_ttl > 0  # type: ignore[union-attr]


async def test_concurrent_requests_share_one_prefill(
    caching: Services, client: openai.AsyncOpenAI
) -> None:
    system = shared_system(caching, 2000, "concurrent")
    before = (await idle(caching)).decoded_tokens
    users = [f"{name}, answer briefly." for name in ("Alpha", "Bravo", "Charlie", "Delta")]
    responses = await asyncio.gather(
        *(ask(client, system, u, max_tokens=4, logit_bias=NO_EOG) for u in users)
    )
    assert sorted(cached(r) for r in responses) == [0, 1920, 1920, 1920]
    prompt = sum(r.usage.prompt_tokens for r in responses if r.usage)
    decoded = (await idle(caching)).decoded_tokens - before
    assert decoded <= prompt - 3 * 1920 + 4 * 4  # the shared 1,920 tokens ran once


async def test_cancel_mid_prefill_leaves_the_cache_consistent(
    caching: Services, client: openai.AsyncOpenAI
) -> None:
    system = shared_system(caching, 4000, "cancel")
    user = "Alpha, answer briefly."
    async with app_sdk(caching, other_org_key(caching)) as other:
        reference = await ask(other, system, user, max_tokens=12)
    await idle(caching)
    before = engine(caching).prompt_cache
    task = asyncio.create_task(ask(client, system, user, max_tokens=12))
    for _ in range(2000):
        if max(engine(caching).kv_positions.values(), default=0) >= 1500:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await idle(caching)
    again = await ask(client, system, user, max_tokens=12)
    after = engine(caching).prompt_cache
    assert before is not None and after is not None
    reused = after.hit_tokens - before.hit_tokens
    assert 1536 <= reused < 3968 and reused % 128 == 0  # the blocks done before the cancel
    assert again.choices[0].message.content == reference.choices[0].message.content
    assert (await idle(caching)).prompt_cache.resident_tokens == 0  # type: ignore[union-attr]


async def test_lru_under_a_tiny_memory_budget(tmp_path: Path, clock: FakeClock) -> None:
    svc = build(
        tmp_path, clock, prompt_cache_memory_mb=12.5 * BLOCK_BYTES / 2**20, prompt_cache_exact=True
    )
    try:
        async with app_sdk(svc) as client:
            first = shared_system(svc, 1152, "lru-a")
            second = shared_system(svc, 1152, "lru-b")
            assert cached(await ask(client, first, "Alpha, answer briefly.")) == 0
            clock.now += 1
            assert cached(await ask(client, second, "Alpha, answer briefly.")) == 0
            stats = (await idle(svc)).prompt_cache  # blocks are saved as a request ends
            assert stats is not None and stats.bytes_per_token * 128 == BLOCK_BYTES
            assert stats.stored_bytes <= stats.budget_bytes and stats.evicted_lru == 6
            clock.now += 1
            assert cached(await ask(client, second, "Zulu, answer briefly.")) == 1152
            clock.now += 1
            assert cached(await ask(client, first, "Zulu, answer briefly.")) == 0
    finally:
        svc.close()


async def test_default_mode_repeats_exactly_and_reuses_the_previous_answer(
    tmp_path: Path, clock: FakeClock
) -> None:
    svc = build(tmp_path, clock)
    try:
        async with app_sdk(svc) as client:
            system = shared_system(svc, 1100, "turns")
            sampled = dict(max_tokens=16, temperature=1.0, seed=7, logit_bias=NO_EOG)
            first = await ask(client, system, "Alpha, answer briefly.", **sampled)
            before = (await idle(svc)).prompt_cache
            again = await ask(client, system, "Alpha, answer briefly.", **sampled)
            after = (await idle(svc)).prompt_cache
            assert before is not None and after is not None and first.usage
            # every prompt token came from the cache (the kept logits start the answer)
            assert after.hit_tokens - before.hit_tokens == first.usage.prompt_tokens
            assert again.choices[0].message.content == first.choices[0].message.content
            assert cached(again) == first.usage.prompt_tokens // 128 * 128
            # a greedy answer is the model's own tokenization of its text, as a next turn's
            # prompt renders it (a sampled one may not be)
            first = await ask(client, system, "Bravo, answer briefly.", max_tokens=16)
            after = (await idle(svc)).prompt_cache
            assert after is not None and first.usage
            turn = [
                *messages(system, "Bravo, answer briefly."),
                {"role": "assistant", "content": first.choices[0].message.content},
                {"role": "user", "content": "Charlie, once more."},
            ]
            await client.chat.completions.create(
                model=MODEL,
                messages=turn,  # type: ignore[arg-type]
                max_tokens=4,
            )
            reused = (await idle(svc)).prompt_cache.hit_tokens - after.hit_tokens  # type: ignore[union-attr]
            # the previous prompt and (most of) the answer: its last token is never fed
            assert reused >= first.usage.prompt_tokens + first.usage.completion_tokens - 2
    finally:
        svc.close()
