"""OpenAI's per-response headers, read the way clients read them: the SDK's
``_request_id`` and raw responses' headers (API reference, "Debugging requests")."""

from __future__ import annotations

import re

import httpx2
import openai
import pytest

from hearth.services.container import Services
from tests.conftest import MODEL, new_project, sdk

pytestmark = pytest.mark.anyio


async def test_every_response_names_its_request_organization_and_project(
    client: openai.AsyncOpenAI, services: Services
) -> None:
    raw = await client.models.with_raw_response.retrieve(MODEL)
    model = raw.parse()
    assert re.fullmatch(r"req_[0-9a-f]{32}", raw.headers["x-request-id"])
    assert model._request_id == raw.headers["x-request-id"]  # what the SDK exposes
    assert int(raw.headers["openai-processing-ms"]) >= 0
    assert raw.headers["openai-version"] == "2020-10-01"
    caller = services.api_keys.verify(client.api_key)
    assert caller is not None
    assert raw.headers["openai-organization"] == caller.organization_id
    assert raw.headers["openai-project"] == caller.project_id
    again = await client.models.with_raw_response.retrieve(MODEL)
    assert again.headers["x-request-id"] != raw.headers["x-request-id"]


async def test_another_projects_key_sees_its_own_project(
    http: httpx2.AsyncClient, services: Services
) -> None:
    project_id, key = new_project(services, "Header project")
    raw = await sdk(http, key).models.with_raw_response.list()
    assert raw.headers["openai-project"] == project_id


async def test_streams_and_errors_carry_a_request_id(
    client: openai.AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    async with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=2, stream=True
    ) as stream:
        assert stream.headers["x-request-id"].startswith("req_")
        assert "openai-project" in stream.headers
        async for _ in stream.iter_lines():
            pass
    with pytest.raises(openai.NotFoundError) as caught:
        await client.models.retrieve("no-such-model")
    assert caught.value.request_id and caught.value.request_id.startswith("req_")
    unauthenticated = await http.get("/v1/models")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["x-request-id"].startswith("req_")
    assert "openai-organization" not in unauthenticated.headers
