"""Usage, costs and rate limits through the real SDK: a project's calls (chat, a stream,
legacy completions, embeddings, speech, a transcription) are summed by
``client.admin.organization.usage`` exactly as their responses' ``usage`` reported them,
priced by ``costs``; a project's ``project.rate_limit`` set through the Admin API applies
to its next request, with OpenAI's headers, 429 body and ``Retry-After``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx2
import openai
import pytest
from openai.types.admin.organization.usage_completions_response import (
    UsageCompletionsResponse,
)
from openai.types.admin.organization.usage_costs_response import UsageCostsResponse

from hearth.services.container import Services
from tests.conftest import ADMIN_KEY, MODEL, new_project, sdk

pytestmark = pytest.mark.anyio

EMBEDDING_MODEL = "text-embedding-3-small"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
async def admin(http: httpx2.AsyncClient) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url="http://hearth.test/v1",
        api_key="unused",
        admin_api_key=ADMIN_KEY,
        http_client=http,
        max_retries=0,
    ) as c:
        yield c


@pytest.fixture
async def project(
    services: Services, http: httpx2.AsyncClient
) -> AsyncIterator[tuple[str, openai.AsyncOpenAI]]:
    """A new project and the SDK as its key (its usage and limits are its own)."""
    project_id, key = new_project(services, "Metered")
    async with sdk(http, key) as client:
        yield project_id, client


async def test_usage_sums_what_the_responses_reported(
    project: tuple[str, openai.AsyncOpenAI],
    admin: openai.AsyncOpenAI,
    http: httpx2.AsyncClient,
) -> None:
    project_id, client = project
    start = int(time.time())
    messages = [{"role": "user", "content": "Say hello."}]
    chat = await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8)  # type: ignore[arg-type]
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    streamed = [chunk async for chunk in stream][-1].usage
    legacy = await client.completions.create(model=MODEL, prompt="Once upon a", max_tokens=5)
    embedded = await client.embeddings.create(model=EMBEDDING_MODEL, input=["a", "b c d"])
    assert chat.usage and streamed and legacy.usage

    page = await admin.admin.organization.usage.completions(
        start_time=start, project_ids=[project_id], group_by=["model", "project_id"]
    )
    [bucket] = page.data
    [result] = bucket.results
    assert result.model == MODEL and result.project_id == project_id
    assert result.num_model_requests == 3
    assert result.input_tokens == sum(u.prompt_tokens for u in (chat.usage, streamed, legacy.usage))
    assert result.output_tokens == sum(
        u.completion_tokens for u in (chat.usage, streamed, legacy.usage)
    )
    embeddings = await admin.admin.organization.usage.embeddings(
        start_time=start, project_ids=[project_id]
    )
    assert embeddings.data[0].results[0].input_tokens == embedded.usage.prompt_tokens

    raw = await http.get(
        "/v1/organization/usage/completions",
        params={"start_time": start, "bucket_width": "1m", "group_by[]": "api_key_id"},
        headers=ADMIN_AUTH,
    )
    assert raw.status_code == 200, raw.text
    UsageCompletionsResponse.model_validate(raw.json())
    keys = {r["api_key_id"] for b in raw.json()["data"] for r in b["results"]}
    assert None not in keys and keys  # every call here was made with a key


async def test_speech_and_transcription_usage(
    project: tuple[str, openai.AsyncOpenAI], admin: openai.AsyncOpenAI
) -> None:
    project_id, client = project
    start = int(time.time())
    text = "The quick brown fox jumps over the lazy dog."
    speech = await client.audio.speech.create(
        model="tts-1", voice="alloy", input=text, response_format="wav"
    )
    transcript = await client.audio.transcriptions.create(
        model="whisper-1", file=("fox.wav", speech.content, "audio/wav")
    )
    assert transcript.text
    spoken = await admin.admin.organization.usage.audio_speeches(
        start_time=start, project_ids=[project_id], group_by=["model"]
    )
    heard = await admin.admin.organization.usage.audio_transcriptions(
        start_time=start, project_ids=[project_id], group_by=["model"]
    )
    [said] = spoken.data[0].results
    [listened] = heard.data[0].results
    assert (said.model, said.characters, said.num_model_requests) == ("tts-1", len(text), 1)
    assert listened.model == "whisper-1" and listened.num_model_requests == 1
    assert 1 <= listened.seconds <= 10


async def test_costs_price_the_usage(
    project: tuple[str, openai.AsyncOpenAI], admin: openai.AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    project_id, client = project
    start = int(time.time())
    chat = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count to five."}],
        max_tokens=10,
    )
    assert chat.usage is not None
    costs = await admin.admin.organization.usage.costs(
        start_time=start, project_ids=[project_id], group_by=["line_item", "project_id"]
    )
    lines = {r.line_item: r for r in costs.data[0].results}
    # the default price table: gpt-4o-mini's $0.15 and $0.60 per 1M tokens
    assert lines[f"{MODEL}, input"].amount.value == pytest.approx(  # type: ignore[union-attr]
        chat.usage.prompt_tokens * 0.15 / 1e6
    )
    assert lines[f"{MODEL}, output"].amount.value == pytest.approx(  # type: ignore[union-attr]
        chat.usage.completion_tokens * 0.60 / 1e6
    )
    assert lines[f"{MODEL}, output"].quantity == chat.usage.completion_tokens
    assert {r.project_id for r in costs.data[0].results} == {project_id}
    raw = await http.get("/v1/organization/costs", params={"start_time": start}, headers=ADMIN_AUTH)
    UsageCostsResponse.model_validate(raw.json())


async def test_a_bad_usage_query_is_a_400_naming_the_parameter(http: httpx2.AsyncClient) -> None:
    for params, param in (
        ({"start_time": 10, "group_by[]": "size"}, "group_by"),
        ({"start_time": 10, "bucket_width": "1w"}, "bucket_width"),
        ({"start_time": 10, "page": "page_nope"}, "page"),
        ({"start_time": 100, "end_time": 50}, "end_time"),
        ({}, "start_time"),
    ):
        r = await http.get("/v1/organization/usage/completions", params=params, headers=ADMIN_AUTH)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["param"] == param
    unknown = await http.get(
        "/v1/organization/usage/decisions", params={"start_time": 10}, headers=ADMIN_AUTH
    )
    assert unknown.status_code == 404


async def test_a_project_rate_limit_applies_at_once(
    project: tuple[str, openai.AsyncOpenAI], admin: openai.AsyncOpenAI
) -> None:
    project_id, client = project
    limits = admin.admin.organization.projects.rate_limits
    await limits.update_rate_limit(
        f"rl-{MODEL}",
        project_id=project_id,
        max_requests_per_1_minute=2,
        max_tokens_per_1_minute=100_000,
    )
    messages = [{"role": "user", "content": "Hi"}]
    seen = []
    for _ in range(2):
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=4,
        )
        seen.append(raw.headers)
    assert [h["x-ratelimit-limit-requests"] for h in seen] == ["2", "2"]
    assert [h["x-ratelimit-remaining-requests"] for h in seen] == ["1", "0"]
    assert seen[0]["x-ratelimit-limit-tokens"] == "100000"
    assert seen[0]["x-ratelimit-reset-requests"].endswith("s")

    with pytest.raises(openai.RateLimitError) as refused:
        await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=4)  # type: ignore[arg-type]
    error = refused.value
    assert error.status_code == 429
    assert error.body["type"] == "requests"  # type: ignore[index]
    assert error.code == "rate_limit_exceeded"
    assert "requests per min (RPM): Limit 2" in error.message
    retry_after = int(error.response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert 0 < int(error.response.headers["retry-after-ms"]) <= 60_000
    # the SDK waits what the server says before retrying
    assert client._should_retry(error.response)
    assert client._calculate_retry_timeout(
        1, openai._models.FinalRequestOptions(method="post", url="/"), error.response.headers
    ) == pytest.approx(int(error.response.headers["retry-after-ms"]) / 1000)

    await limits.update_rate_limit(
        f"rl-{MODEL}", project_id=project_id, max_requests_per_1_minute=50
    )
    await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=4)  # type: ignore[arg-type]


async def test_tokens_per_minute_refuse_a_prompt_that_does_not_fit(
    project: tuple[str, openai.AsyncOpenAI], admin: openai.AsyncOpenAI
) -> None:
    project_id, client = project
    await admin.admin.organization.projects.rate_limits.update_rate_limit(
        f"rl-{MODEL}",
        project_id=project_id,
        max_requests_per_1_minute=100,
        max_tokens_per_1_minute=60,
    )
    with pytest.raises(openai.RateLimitError) as refused:
        await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "word " * 80}],
            max_tokens=4,
        )
    assert refused.value.body["type"] == "tokens"  # type: ignore[index]
    assert "tokens per min (TPM): Limit 60, Used 0" in refused.value.message
    # a request that fits is still admitted: the refused one's tokens were not kept
    small = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4
    )
    assert int(small.headers["x-ratelimit-remaining-tokens"]) < 60
