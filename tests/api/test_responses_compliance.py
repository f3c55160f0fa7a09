"""The Open Responses compliance suite, over HTTP against the in-process app.

The same seven requests as the specification's own suite (basic response, streaming, system
prompt, tool calling, streamed tool calling, multi-turn, image input), with its checks and
stricter ones: every response and event validates as both the Open Responses models and the
SDK's types (``tests/responses_schema.py``). The bundled 135M model answers, so the tests
assert protocol and shape, never wording; sampling is greedy and answers are kept short.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import jsonschema
import openai
import pytest

from tests.conftest import API_KEY, MODEL
from tests.responses_schema import (
    Event,
    assert_function_call_stream,
    assert_text_stream,
    parse_sse,
    validate_events,
    validate_response,
)

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {API_KEY}"}
MAX_TOKENS = 40

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a location",
    "parameters": {
        "type": "object",
        "properties": {
            "location": {
                "type": "string",
                "description": "The city and state, e.g. San Francisco, CA",
            },
        },
        "required": ["location"],
    },
}

# the suite's picture: a red heart icon on a white background, 32x32
HEART_PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAIAAAD8GO2jAAABmklEQVR42tyWAaTyUBzFew/eG4AHz+MBSAHK"
    "BiJRGFKwIgQQJKLUIioBIhCAiCAAEizAQIAECaASqFFJq84nudjnaqvuPnxzgP9xfrq5938csPn7PwHTKSoV"
    "iCIEAYEAMhmoKsU2mUCWEQqB5xEMIp/HaGQG2G6RSuH9HQ7H34rFrtPbdz4jl6PbwmEsl3QA1mt4vcRKk8dz"
    "9eg6IpF7tt9fzGY0gCgafFRFo5Blc5vLhf3eCOj1yNhM5GRMVK0aATxPZoz09YXjkQDmczJgquGQAPp9WwCN"
    "BgG027YACgUC6HRsAZRKBDAY2AJoNv/ZnwzA6WScznG3p4UAymXGAEkyXrTFAh8fLAGqagQAyGaZpYsi7bHT"
    "NPz8MEj//LxuFPo+UBS8vb0KaLXubrRa7aX0RMLCykwmn0z3+XA4WACcTpCkh9MFAZpmuVXo+mO/w+/HZvNg"
    "bblcUCxaSo/Hyck80Yu6XXDcvfVZr79cvMZjuN2U9O9vKAqjZrfbIZ0mV4TUi9Xqz6jddNy//7+e3n8Fhf/L"
    "lo2kxi8AQyGRoDkmAhAAAAAASUVORK5CYII="
)


def _user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


def _request(input_: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """The suite's request, greedy and short so that the tiny model answers quickly."""
    return {
        "model": MODEL,
        "input": input_,
        "temperature": 0,
        "max_output_tokens": MAX_TOKENS,
        **extra,
    }


async def _post(http: httpx2.AsyncClient, body: dict[str, Any], stream: bool) -> httpx2.Response:
    # the suite always states ``stream``, false included
    return await http.post("/v1/responses", headers=AUTH, json={**body, "stream": stream})


async def _create(http: httpx2.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed response, validated."""
    r = await _post(http, body, stream=False)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    obj: dict[str, Any] = r.json()
    validate_response(obj)
    return obj


async def _stream(http: httpx2.AsyncClient, body: dict[str, Any]) -> list[Event]:
    """A streamed response's events, validated one by one and as a whole."""
    r = await _post(http, body, stream=True)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    validate_events(events)
    return events


def _assert_finished(response: dict[str, Any]) -> None:
    """The suite wants ``completed``; with ``max_output_tokens`` set, stopping at exactly that
    many tokens as ``incomplete`` is the other normal end."""
    usage = response["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"], usage
    assert usage["input_tokens"] > 0, usage
    assert usage["output_tokens"] <= MAX_TOKENS, usage
    if response["status"] == "incomplete":
        assert response["incomplete_details"] == {"reason": "max_output_tokens"}, response
        assert usage["output_tokens"] == MAX_TOKENS, usage
    else:
        assert response["status"] == "completed", response
        assert response["incomplete_details"] is None, response
        assert isinstance(response["completed_at"], int), response
    assert response["error"] is None, response


def _assert_text_answer(response: dict[str, Any]) -> None:
    """One assistant message holding one ``output_text`` part."""
    assert response["output"], "the response has no output items"
    (message,) = response["output"]
    assert message["type"] == "message" and message["role"] == "assistant", message
    assert message["status"] == response["status"], message
    assert [part["type"] for part in message["content"]] == ["output_text"], message


def _function_calls(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The response's function calls: at least one, all to ``get_weather``; when the response
    completed, each one's arguments satisfy the tool's parameters."""
    assert response["output"], "the response has no output items"
    calls = [item for item in response["output"] if item["type"] == "function_call"]
    assert calls, f"no function_call output item: {response['output']}"
    for call in calls:
        assert call["name"] == "get_weather", call
        assert call["call_id"], call
        if response["status"] == "completed":
            # the call is grammar-constrained, so even the tiny model's arguments are valid
            jsonschema.validate(json.loads(call["arguments"]), WEATHER["parameters"])
    assert [tool["name"] for tool in response["tools"]] == ["get_weather"], response["tools"]
    return calls


@pytest.mark.parametrize(
    "input_",
    [
        pytest.param([_user("Say hello in exactly 3 words.")], id="basic-response"),
        pytest.param(
            [
                {
                    "type": "message",
                    "role": "system",
                    "content": "You are a pirate. Always respond in pirate speak.",
                },
                _user("Say hello."),
            ],
            id="system-prompt",
        ),
        pytest.param(
            [
                _user("My name is Alice."),
                {
                    "type": "message",
                    "role": "assistant",
                    "content": "Hello Alice! Nice to meet you. How can I help you today?",
                },
                _user("What is my name?"),
            ],
            id="multi-turn",
        ),
    ],
)
async def test_text_response(http: httpx2.AsyncClient, input_: list[dict[str, Any]]) -> None:
    response = await _create(http, _request(input_))
    assert response["object"] == "response" and response["model"] == MODEL
    _assert_finished(response)
    _assert_text_answer(response)


async def test_streaming_response(http: httpx2.AsyncClient) -> None:
    events = await _stream(http, _request([_user("Count from 1 to 5.")]))
    assert_text_stream(events)
    response = events[-1][1]["response"]
    _assert_finished(response)
    _assert_text_answer(response)
    # the first events show the response before any output
    for _, data in events[:2]:
        assert data["response"]["output"] == [], data


async def test_tool_calling(http: httpx2.AsyncClient) -> None:
    body = _request(
        [_user("What's the weather like in San Francisco?")],
        tools=[WEATHER],
        tool_choice="required",
    )
    response = await _create(http, body)
    _assert_finished(response)
    _function_calls(response)
    assert response["tool_choice"] == "required"


async def test_tool_calling_streaming(http: httpx2.AsyncClient) -> None:
    choice = {"type": "function", "name": "get_weather"}
    body = _request(
        [_user("What's the weather like in San Francisco?")], tools=[WEATHER], tool_choice=choice
    )
    events = await _stream(http, body)
    streamed = assert_function_call_stream(events)
    response = events[-1][1]["response"]
    _assert_finished(response)
    assert _function_calls(response) == streamed
    assert response["tool_choice"] == choice


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_image_input_is_a_clear_400(http: httpx2.AsyncClient, stream: bool) -> None:
    """The bundled model cannot see: the image part is refused before anything streams."""
    body = _request(
        [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {
                        "type": "input_text",
                        "text": "What do you see in this image? Answer in one sentence.",
                    },
                    {"type": "input_image", "image_url": HEART_PNG},
                ],
            }
        ]
    )
    r = await _post(http, body, stream)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()
    assert set(error) == {"error"}, error
    assert set(error["error"]) == {"message", "type", "param", "code"}, error
    assert error["error"]["type"] == "invalid_request_error", error
    # the image part itself, or a field of it
    assert error["error"]["param"].startswith("input[0].content[1]"), error
    assert isinstance(error["error"]["message"], str) and error["error"]["message"], error


async def test_sdk_reads_the_stream(client: openai.AsyncOpenAI) -> None:
    """The SDK's own stream parser reads the same events the raw checks accept."""
    stream = await client.responses.create(
        model=MODEL,
        input="Count from 1 to 5.",
        temperature=0,
        max_output_tokens=MAX_TOKENS,
        stream=True,
    )
    kinds = [event.type async for event in stream]
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds
    assert kinds[-1] in ("response.completed", "response.incomplete"), kinds
    assert "response.output_text.delta" in kinds, kinds
