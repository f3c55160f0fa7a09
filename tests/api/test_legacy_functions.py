"""Deprecated function calling (``functions`` + ``function_call``) through the SDK,
in-process, on the real bundled model: answered as OpenAI still answers it, with
``message.function_call`` and ``finish_reason: "function_call"``."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest

from tests.conftest import MODEL
from tests.contract import check

pytestmark = pytest.mark.anyio
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}},
    "required": ["city"],
}
FUNCTIONS: list[Any] = [
    {"name": "get_weather", "description": "Current weather in a city", "parameters": CITY},
    {"name": "get_time", "description": "Local time in a city", "parameters": CITY},
]
WEATHER: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]


async def legacy(client: openai.AsyncOpenAI, **kw: Any) -> Any:
    kw = {"functions": FUNCTIONS, "max_tokens": 60, "temperature": 0, "messages": WEATHER, **kw}
    return await client.chat.completions.create(model=MODEL, **kw)


async def test_named_function_call(client: openai.AsyncOpenAI) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=WEATHER,
        functions=FUNCTIONS,
        function_call={"name": "get_time"},
        max_tokens=60,
        temperature=0,
    )
    out = check("chat.completion", raw.content)
    choice = out.choices[0]  # type: ignore[attr-defined]
    assert choice.finish_reason == "function_call"
    assert choice.message.tool_calls is None and choice.message.content is None
    assert choice.message.function_call.name == "get_time"
    jsonschema.validate(json.loads(choice.message.function_call.arguments), CITY)


async def test_auto_gives_text_or_one_function_call(client: openai.AsyncOpenAI) -> None:
    for seed in range(3):
        out = await legacy(client, function_call="auto", temperature=1, seed=seed)
        choice = out.choices[0]
        assert choice.message.tool_calls is None
        if choice.finish_reason == "function_call":
            assert choice.message.function_call.name in ("get_weather", "get_time")
            jsonschema.validate(json.loads(choice.message.function_call.arguments), CITY)
        else:
            assert choice.message.function_call is None and choice.message.content


async def test_none_answers_in_text(client: openai.AsyncOpenAI) -> None:
    out = await legacy(client, function_call="none", max_tokens=20)
    choice = out.choices[0]
    assert choice.finish_reason in ("stop", "length")
    assert choice.message.function_call is None and choice.message.content
    assert not choice.message.content.startswith("<tool_call>")


async def test_streamed_function_call_reassembles(client: openai.AsyncOpenAI) -> None:
    stream = await legacy(client, function_call={"name": "get_weather"}, stream=True)
    name, arguments, finish, deltas = None, "", None, []
    async for chunk in stream:
        check("chat.completion.chunk", chunk.model_dump_json(exclude_unset=True))
        for c in chunk.choices:
            deltas.append(c.delta)
            assert c.delta.tool_calls is None
            if c.delta.function_call is not None:
                name = c.delta.function_call.name or name
                arguments += c.delta.function_call.arguments or ""
            finish = c.finish_reason or finish
    assert finish == "function_call" and name == "get_weather"
    first = next(d.function_call for d in deltas if d.function_call is not None)
    assert first.name == "get_weather" and first.arguments == ""  # name first, as OpenAI
    jsonschema.validate(json.loads(arguments), CITY)


async def test_function_result_message_round_trip(client: openai.AsyncOpenAI) -> None:
    messages = [
        *WEATHER,
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        },
        {"role": "function", "name": "get_weather", "content": '{"sky": "sunny", "c": 21}'},
    ]
    out = await legacy(client, messages=messages, function_call="none", max_tokens=30)
    assert out.choices[0].message.content


async def test_function_message_needs_a_name(client: openai.AsyncOpenAI) -> None:
    messages = [*WEATHER, {"role": "function", "content": "sunny"}]
    with pytest.raises(openai.BadRequestError) as caught:
        await legacy(client, messages=messages)
    assert caught.value.param == "messages[1].name"


@pytest.mark.parametrize(
    ("kw", "param"),
    [
        ({"function_call": {"name": "nope"}}, "function_call"),
        ({"functions": None, "function_call": "auto"}, "function_call"),
        ({"tools": [{"type": "function", "function": FUNCTIONS[0]}]}, "functions"),
        ({"functions": [FUNCTIONS[0]] * 129}, "functions"),
    ],
    ids=["unknown-name", "call-without-functions", "with-tools", "too-many"],
)
async def test_misuse_is_a_400(client: openai.AsyncOpenAI, kw: dict[str, Any], param: str) -> None:
    if kw.get("functions", ()) is None:
        del kw["functions"]
        kw = {**kw, "functions": openai.NOT_GIVEN}
    with pytest.raises(openai.BadRequestError) as caught:
        await legacy(client, **kw)
    assert caught.value.param == param
