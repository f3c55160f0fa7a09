"""Function calling through the SDK, in-process, on the real bundled model.

The call syntax is grammar-constrained, so even the 135M model's calls are well formed
and strict arguments always validate.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from tests.conftest import MODEL, NO_EOG

pytestmark = pytest.mark.anyio
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "strict": True,
            "description": "Current weather in a city",
            "parameters": CITY,
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "strict": True,
            "description": "Local time in a city",
            "parameters": CITY,
        },
    },
]
WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]


async def call(client: openai.AsyncOpenAI, messages: list[Any] = WEATHER, **kw: Any) -> Any:
    kw = {"tools": TOOLS, "max_tokens": 60, "temperature": 0, **kw}
    return await client.chat.completions.create(model=MODEL, messages=messages, **kw)


def assert_valid_calls(calls: list[Any]) -> None:
    for c in calls:
        assert c.type == "function" and c.id.startswith("call_") and len(c.id) > 10
        assert c.function.name in ("get_weather", "get_time")
        jsonschema.validate(json.loads(c.function.arguments), CITY)


async def test_required_guarantees_a_valid_call(client: openai.AsyncOpenAI) -> None:
    out = await call(client, tool_choice="required")
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None and choice.message.refusal is None
    assert choice.message.tool_calls
    assert_valid_calls(choice.message.tool_calls)
    assert choice.message.tool_calls[0].function.name == "get_weather"
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Paris"}


async def test_named_tool_choice_calls_that_function(client: openai.AsyncOpenAI) -> None:
    out = await call(client, tool_choice={"type": "function", "function": {"name": "get_time"}})
    calls = out.choices[0].message.tool_calls
    assert out.choices[0].finish_reason == "tool_calls"
    assert calls and len(calls) == 1 and calls[0].function.name == "get_time"
    assert_valid_calls(calls)


async def test_none_answers_in_text(client: openai.AsyncOpenAI) -> None:
    out = await call(client, tool_choice="none", logit_bias={"44": 100})  # "<" pushed hard
    assert out.choices[0].message.tool_calls is None
    assert out.choices[0].message.content and out.choices[0].message.content[0] != "<"


async def test_auto_gives_text_or_well_formed_calls(client: openai.AsyncOpenAI) -> None:
    for question in ("Hi!", "What time is it in Tokyo? Use a tool."):
        out = await call(client, [{"role": "user", "content": question}], tool_choice="auto")
        message = out.choices[0].message
        if message.tool_calls:
            assert out.choices[0].finish_reason == "tool_calls"
            assert_valid_calls(message.tool_calls)
        else:
            assert message.content and not message.content.startswith("<")


async def test_parallel_calls_in_one_turn(client: openai.AsyncOpenAI) -> None:
    # end of generation banned: the grammar lets the model go on with more calls
    out = await call(client, tool_choice="required", logit_bias=NO_EOG, max_tokens=90)
    calls = out.choices[0].message.tool_calls
    assert calls and len(calls) >= 2
    assert_valid_calls(calls[:2])
    assert len({c.id for c in calls}) == len(calls)


async def test_parallel_tool_calls_false_gives_one_call(client: openai.AsyncOpenAI) -> None:
    out = await call(client, tool_choice="required", logit_bias=NO_EOG, parallel_tool_calls=False)
    calls = out.choices[0].message.tool_calls
    assert out.choices[0].finish_reason == "tool_calls"
    assert calls and len(calls) == 1


async def test_streamed_calls_reassemble(client: openai.AsyncOpenAI) -> None:
    whole = await call(client, tool_choice="required", logit_bias=NO_EOG, max_tokens=60)
    stream = await call(
        client, tool_choice="required", logit_bias=NO_EOG, max_tokens=60, stream=True
    )
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    async for chunk in stream:
        if not chunk.choices:
            continue
        delta, finish = chunk.choices[0].delta, chunk.choices[0].finish_reason or finish
        assert not delta.content
        for part in delta.tool_calls or []:
            if part.index not in calls:  # the first fragment carries id, type and name
                assert part.id and part.type == "function" and part.function.name
                assert part.function.arguments == ""
                calls[part.index] = {"id": part.id, "name": part.function.name, "args": ""}
            else:
                assert part.id is None and part.function.name is None
                calls[part.index]["args"] += part.function.arguments
    expected = whole.choices[0].message.tool_calls
    assert finish == whole.choices[0].finish_reason
    assert [(c["name"], c["args"]) for c in calls.values()] == [
        (c.function.name, c.function.arguments) for c in expected
    ]


async def test_round_trip_call_result_answer(client: openai.AsyncOpenAI) -> None:
    first = await call(client, tool_choice="required", parallel_tool_calls=False)
    made = first.choices[0].message.tool_calls[0]
    history = [
        *WEATHER,
        first.choices[0].message.model_dump(exclude_none=True),
        {
            "role": "tool",
            "tool_call_id": made.id,
            "content": json.dumps({"city": "Paris", "sky": "sunny", "celsius": 21}),
        },
    ]
    # "none" asks for the answer now (with "auto" the tiny model tends to call again)
    final = await call(client, history, tool_choice="none", max_tokens=40)
    answer = final.choices[0].message.content
    assert answer and not answer.startswith("<"), answer
    assert final.choices[0].message.tool_calls is None


class GetWeather(BaseModel):
    """Current weather in a city."""

    city: str = Field(max_length=30)
    unit: str = Field(pattern="^(celsius|fahrenheit)$")


async def test_sdk_pydantic_function_tool(client: openai.AsyncOpenAI) -> None:
    out = await client.chat.completions.parse(
        model=MODEL,
        messages=WEATHER,
        tools=[openai.pydantic_function_tool(GetWeather)],
        tool_choice="required",
        max_tokens=60,
        temperature=0,
    )
    calls = out.choices[0].message.tool_calls
    assert calls and isinstance(calls[0].function.parsed_arguments, GetWeather)


@pytest.mark.parametrize(
    ("kw", "param"),
    [
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name!"}}]},
            "tools[0].function.name",
        ),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "f",
                            "strict": True,
                            "parameters": {
                                "type": "object",
                                "properties": {"a": {"not": {"type": "string"}}},
                            },
                        },
                    }
                ]
            },
            "tools[0].function.parameters",
        ),
        ({"tools": [TOOLS[0], TOOLS[0]]}, "tools[1].function.name"),
    ],
)
async def test_bad_tools_are_400s(
    client: openai.AsyncOpenAI, kw: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await call(client, **kw)
    assert caught.value.param == param


async def test_tool_choice_without_tools_is_a_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model=MODEL, messages=WEATHER, tool_choice="required")
    assert caught.value.param == "tool_choice"


async def test_tool_message_must_answer_a_call(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await call(
            client, [*WEATHER, {"role": "tool", "tool_call_id": "call_x", "content": "sunny"}]
        )
    assert caught.value.param == "messages[1].role"


# Optional properties and an open object: refused by strict mode, enforced without it.
LOOSE_ARGS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 30},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "unit": {"enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "days"],
}


def loose_tool(name: str, parameters: dict[str, Any] = LOOSE_ARGS) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": "Weather forecast", "parameters": parameters},
    }


async def test_non_strict_arguments_follow_the_schema(client: openai.AsyncOpenAI) -> None:
    for choice in ("required", {"type": "function", "function": {"name": "forecast"}}):
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL,
            messages=WEATHER,
            tools=[loose_tool("forecast")],  # type: ignore[list-item]
            tool_choice=choice,  # type: ignore[arg-type]
            max_tokens=80,
            temperature=0,
        )
        assert "x-hearth-schema-enforced" not in raw.headers
        calls = raw.parse().choices[0].message.tool_calls or []
        assert calls and calls[0].function.name == "forecast"
        jsonschema.validate(json.loads(calls[0].function.arguments), LOOSE_ARGS)


async def test_auto_still_chooses_and_calls_follow_the_schema(client: openai.AsyncOpenAI) -> None:
    for seed in range(3):
        out = await client.chat.completions.create(
            model=MODEL,
            messages=WEATHER,
            tools=[loose_tool("forecast")],  # type: ignore[list-item]
            max_tokens=80,
            seed=seed,
        )
        message = out.choices[0].message
        if out.choices[0].finish_reason == "tool_calls":
            for c in message.tool_calls or []:
                jsonschema.validate(json.loads(c.function.arguments), LOOSE_ARGS)  # type: ignore[union-attr]
        else:
            assert message.content is not None and not message.tool_calls


async def test_parameters_without_a_type_are_still_an_object(client: openai.AsyncOpenAI) -> None:
    out = await client.chat.completions.create(
        model=MODEL,
        messages=WEATHER,
        tools=[loose_tool("anything", {})],  # type: ignore[list-item]
        tool_choice="required",
        max_tokens=40,
        temperature=0,
    )
    calls = out.choices[0].message.tool_calls or []
    assert calls and calls[0].function.arguments.startswith("{")  # type: ignore[union-attr]


@pytest.mark.parametrize("count", [129, 5000])
async def test_more_than_128_tools_is_a_400(client: openai.AsyncOpenAI, count: int) -> None:
    tools = [loose_tool(f"f{i}") for i in range(count)]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model=MODEL, messages=WEATHER, tools=tools)  # type: ignore[arg-type]
    assert caught.value.code == "array_above_max_length"
    assert caught.value.param == "tools"
    assert caught.value.message.endswith(
        "Invalid 'tools': array too long. Expected an array with maximum length 128, "
        f"but got an array with length {count} instead."
    )


async def test_128_distinct_tools_are_answered(client: openai.AsyncOpenAI) -> None:
    tools = [
        loose_tool(
            f"tool_{i}",
            {
                "type": "object",
                "properties": {
                    f"arg_{i}": {"type": "string", "maxLength": 10},
                    "n": {"type": "integer"},
                },
                "required": [f"arg_{i}"],
            },
        )
        for i in range(128)
    ]
    out = await client.chat.completions.create(
        model=MODEL,
        messages=WEATHER,
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "tool_77"}},
        max_tokens=40,
        temperature=0,
    )
    calls = out.choices[0].message.tool_calls or []
    assert calls and calls[0].function.name == "tool_77"  # type: ignore[union-attr]
    assert "arg_77" in json.loads(calls[0].function.arguments)  # type: ignore[union-attr]


async def test_unenforceable_non_strict_parameters_are_a_flagged_hint(
    client: openai.AsyncOpenAI,
) -> None:
    schema = {"type": "object", "properties": {"a": {"not": {"type": "string"}}}}
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=WEATHER,
        tools=[loose_tool("odd", schema)],  # type: ignore[list-item]
        tool_choice="required",
        max_tokens=40,
        temperature=0,
        stream=True,
    )
    assert raw.headers["x-hearth-schema-enforced"] == "false"
    assert "function 'odd'" in raw.headers["x-hearth-schema-not-enforced-reason"]
    chunks = [c async for c in raw.parse()]
    assert any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
