"""Bounded admission over HTTP, in-process with the bundled model: an engine with one
sequence and one waiting place answers a burst of long chat requests with OpenAI's 503
(body and ``Retry-After``) for the rest, and serves again once the burst has passed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import openai
import pytest

from hearth.app import create_app
from hearth.services.container import Services
from tests import conftest
from tests.conftest import API_KEY, MODEL, NO_EOG

pytestmark = pytest.mark.anyio

BURST = 6


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data: Path = tmp_path_factory.mktemp("admission")
    svc = Services.build(conftest.test_settings(data, max_sequences=1, max_waiting=1))
    yield svc
    svc.close()


@pytest.fixture
async def client(tight: Services) -> AsyncIterator[openai.AsyncOpenAI]:
    transport = httpx2.ASGITransport(app=create_app(tight.settings, tight))
    async with (
        httpx2.AsyncClient(transport=transport, base_url="http://hearth.test") as http,
        openai.AsyncOpenAI(
            base_url="http://hearth.test/v1", api_key=API_KEY, http_client=http, max_retries=0
        ) as c,
    ):
        yield c


async def long_answer(client: openai.AsyncOpenAI) -> str | openai.APIStatusError:
    """A chat completion that holds its sequence for 128 tokens, or the error it got."""
    try:
        r = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Tell me a long story."}],
            max_tokens=128,
            logit_bias=NO_EOG,
        )
    except openai.APIStatusError as exc:
        return exc
    return r.choices[0].finish_reason


async def test_a_burst_past_the_queue_gets_503_then_the_server_answers(
    client: openai.AsyncOpenAI,
) -> None:
    results = await asyncio.gather(*(long_answer(client) for _ in range(BURST)))
    served = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if not isinstance(r, str)]
    # one sequence and one waiting place: two are served whole, the rest refused at once
    assert served == ["length"] * 2, results
    assert len(refused) == BURST - 2
    for exc in refused:
        assert isinstance(exc, openai.InternalServerError) and exc.status_code == 503
        assert exc.response.headers["Retry-After"] == "1"
        error = exc.response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["message"] == "The engine is currently overloaded, please try again later."
        assert error["type"] == "server_error" and error["param"] is None
    # the burst is over: every admission place was given back
    assert await long_answer(client) == "length"
    assert await asyncio.gather(long_answer(client), long_answer(client)) == ["length"] * 2
