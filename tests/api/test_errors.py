"""Every error a client can cause comes back in OpenAI's shape with the right status."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest
from fastapi import FastAPI

from tests.conftest import API_KEY, MODEL

pytestmark = pytest.mark.anyio
AUTH = {"Authorization": f"Bearer {API_KEY}"}
USER = [{"role": "user", "content": "hi"}]


def assert_openai_error(body: dict[str, Any], param: str | None = None) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param


async def test_missing_key_is_401(http: httpx2.AsyncClient) -> None:
    r = await http.get("/v1/models")
    assert r.status_code == 401
    assert_openai_error(r.json())


async def test_wrong_key_is_401_through_sdk(http: httpx2.AsyncClient) -> None:
    bad = openai.AsyncOpenAI(
        base_url="http://hearth.test/v1", api_key="sk-wrong", http_client=http, max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as err:
        await bad.chat.completions.create(model=MODEL, messages=USER)
    assert err.value.code == "invalid_api_key"
    assert "sk-wrong" not in str(err.value.body)


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"temperature": 3}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"n": 0}, "n"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"max_tokens": "ten"}, "max_tokens"),
        ({"temperature": "0.5"}, "temperature"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logit_bias": {"abc": 1}}, "logit_bias"),
        ({"logit_bias": {"5": 101}}, "logit_bias"),
        ({"logit_bias": {"99999999": 1}}, "logit_bias"),
        ({"presence_penalty": -3}, "presence_penalty"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:,"}}],
                    }
                ]
            },
            "messages[0].content[0].type",
        ),
        ({"model": None}, "model"),
    ],
)
async def test_bad_values_are_400_with_param(
    http: httpx2.AsyncClient, patch: dict[str, Any], param: str
) -> None:
    body = {"model": MODEL, "messages": USER, "max_tokens": 1, **patch}
    r = await http.post("/v1/chat/completions", json=body, headers=AUTH)
    assert r.status_code == 400, r.text
    assert_openai_error(r.json(), param)
    assert r.json()["error"]["type"] == "invalid_request_error"


async def test_missing_model_field_is_400(http: httpx2.AsyncClient) -> None:
    r = await http.post("/v1/chat/completions", json={"messages": USER}, headers=AUTH)
    assert r.status_code == 400
    assert_openai_error(r.json(), "model")


async def test_malformed_json_is_400(http: httpx2.AsyncClient) -> None:
    r = await http.post(
        "/v1/chat/completions",
        content=b'{"model": ',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert_openai_error(r.json())
    assert "JSON" in r.json()["error"]["message"]


async def test_unknown_model_is_404(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert err.value.code == "model_not_found"


async def test_context_length_exceeded(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.create(model=MODEL, messages=USER, max_tokens=100_000)
    assert err.value.code == "context_length_exceeded"
    assert "maximum context length is 2048" in err.value.message


async def test_streaming_request_errors_before_stream(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model=MODEL, messages=USER, temperature=5, stream=True)


async def test_unknown_route_is_openai_shaped_404(http: httpx2.AsyncClient) -> None:
    r = await http.get("/v1/nope", headers=AUTH)
    assert r.status_code == 404
    assert_openai_error(r.json())


async def test_internal_error_has_no_traceback(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hearth.services.chat import completions

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(completions, "generation_request", boom)
    # Starlette re-raises after answering 500; a real server would only log it
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url="http://hearth.test") as http:
        r = await http.post(
            "/v1/chat/completions", headers=AUTH, json={"model": MODEL, "messages": USER}
        )
    assert r.status_code == 500
    assert_openai_error(r.json())
    assert "secret internals" not in r.text and "Traceback" not in r.text
