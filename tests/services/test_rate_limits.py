"""The rate limiter over ``limits``' real storages (memory, and a real Redis server when
one is installed): RPM and TPM exact to the window under concurrency, refusals with
OpenAI's type, message and wait, reservations corrected on completion, OpenAI's
``x-ratelimit-*`` headers, and limits changed at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from hearth.domain import Principal
from hearth.errors import RateLimited
from hearth.services.rate_limits import RATE_LIMIT_HEADERS, Limits, RateLimiter, admit, duration

pytestmark = pytest.mark.anyio

CALLER = Principal("org-a", "proj_a", "key_a")


def limiter_for(limits: dict[str, Limits], url: str = "memory://") -> RateLimiter:
    async def limits_for(project_id: str, model: str) -> Limits:
        return limits[model]

    limiter = RateLimiter(limits_for, url)
    made.append(limiter)
    return limiter


made: list[RateLimiter] = []


@pytest.fixture(autouse=True)
async def close_limiters() -> AsyncIterator[None]:
    yield
    while made:
        await made.pop().close()


@pytest.fixture(params=["memory", "redis"])
def storage_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("redis_url"))


async def test_durations_are_written_as_openai_writes_them() -> None:
    assert duration(0.02) == "20ms"
    assert duration(1) == "1s"
    assert duration(17.5) == "17.5s"
    assert duration(360) == "6m0s"
    assert duration(3723) == "1h2m3s"


async def test_requests_per_minute_refuse_the_one_past_the_limit(storage_url: str) -> None:
    limiter = limiter_for({"m": Limits(3, 0)}, storage_url)
    ids = (f"proj_{time.time_ns()}", "m")
    caller = Principal("org-a", ids[0], "key_a")
    headers: dict[str, str] = {}
    token = RATE_LIMIT_HEADERS.set(headers)
    try:
        for _ in range(3):
            await limiter.admit(caller, "m")
        assert headers["x-ratelimit-limit-requests"] == "3"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        with pytest.raises(RateLimited) as refused:
            await limiter.admit(caller, "m")
    finally:
        RATE_LIMIT_HEADERS.reset(token)
    body = refused.value.to_dict()["error"]
    assert body["type"] == "requests" and body["code"] == "rate_limit_exceeded"
    assert "requests per min (RPM): Limit 3, Used 3, Requested 1" in body["message"]
    assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 60
    assert "x-ratelimit-limit-tokens" not in headers  # no TPM limit: no token headers


async def test_tokens_per_minute_reserve_refuse_and_give_back(storage_url: str) -> None:
    limiter = limiter_for({"m": Limits(1000, 100)}, storage_url)
    caller = Principal("org-a", f"proj_{time.time_ns()}", "key_a")
    headers: dict[str, str] = {}
    token = RATE_LIMIT_HEADERS.set(headers)
    try:
        first = await limiter.admit(caller, "m", 60)
        assert headers["x-ratelimit-remaining-tokens"] == "40"
        with pytest.raises(RateLimited) as refused:
            await limiter.admit(caller, "m", 50)
        assert refused.value.to_dict()["error"]["type"] == "tokens"
        await limiter.admit(caller, "m", 40)  # the refused request's 50 were not kept
        assert headers["x-ratelimit-remaining-tokens"] == "0"
        await first.settle(10)  # it used 10 of its 60
        await limiter.admit(caller, "m", 50)
        assert headers["x-ratelimit-remaining-tokens"] == "0"
        assert headers["x-ratelimit-reset-tokens"].endswith("s")
    finally:
        RATE_LIMIT_HEADERS.reset(token)


async def test_concurrent_requests_never_overshoot_the_window(storage_url: str) -> None:
    limiter = limiter_for({"m": Limits(20, 1000)}, storage_url)
    caller = Principal("org-a", f"proj_{time.time_ns()}", "key_a")

    async def one() -> bool:
        try:
            await limiter.admit(caller, "m", 30)
        except RateLimited:
            return False
        return True

    admitted = await asyncio.gather(*(one() for _ in range(60)))
    # 20 requests fit the RPM, and 33 x 30 tokens the TPM: the RPM binds
    assert sum(admitted) == 20


async def test_tokens_bind_under_concurrency(storage_url: str) -> None:
    limiter = limiter_for({"m": Limits(1000, 100)}, storage_url)
    caller = Principal("org-a", f"proj_{time.time_ns()}", "key_a")

    async def one() -> bool:
        try:
            await limiter.admit(caller, "m", 30)
        except RateLimited:
            return False
        return True

    assert sum(await asyncio.gather(*(one() for _ in range(20)))) == 3


async def test_a_changed_limit_applies_to_the_next_request() -> None:
    limits = {"m": Limits(1, 0)}
    limiter = limiter_for(limits)
    await limiter.admit(CALLER, "m")
    with pytest.raises(RateLimited):
        await limiter.admit(CALLER, "m")
    limits["m"] = Limits(5, 0)
    await limiter.admit(CALLER, "m")


async def test_projects_and_models_are_counted_apart() -> None:
    limiter = limiter_for({"m": Limits(1, 0), "n": Limits(1, 0)})
    await limiter.admit(CALLER, "m")
    await limiter.admit(CALLER, "n")
    await limiter.admit(Principal("org-a", "proj_b", "key_b"), "m")


async def test_background_work_and_no_limits_are_never_refused() -> None:
    limiter = limiter_for({"m": Limits(0, 0)})
    headers: dict[str, str] = {}
    token = RATE_LIMIT_HEADERS.set(headers)
    try:
        for _ in range(5):
            await limiter.admit(CALLER, "m", 10**9)
    finally:
        RATE_LIMIT_HEADERS.reset(token)
    assert headers == {}
    strict = limiter_for({"m": Limits(1, 1)})
    for _ in range(3):  # an eval run or fine-tuning job has no key
        assert await admit(strict, Principal.for_project("org-a", "proj_a"), "m", 5) is None
