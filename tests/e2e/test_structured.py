"""End to end: Structured Outputs and tool calls from a real ``hearth serve`` process."""

from __future__ import annotations

import json
import threading
from typing import Any

import jsonschema
import openai
import pytest

from tests.conftest import MODEL

pytestmark = pytest.mark.e2e
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "strict": True, "parameters": CITY}}
]


def test_streamed_tool_calls_over_http(sync_client: openai.OpenAI) -> None:
    with sync_client.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=TOOLS,
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=40,
        temperature=0,
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    jsonschema.validate(json.loads(calls[0].function.arguments), CITY)


def test_concurrent_constrained_and_free_requests(sync_client: openai.OpenAI) -> None:
    # batched sequences each carry their own matcher; free ones stay unconstrained
    results: dict[int, Any] = {}

    def run(i: int) -> None:
        extra: dict[str, Any] = {}
        if i % 2 == 0:
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "city", "schema": CITY, "strict": True},
            }
        results[i] = sync_client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"Name city number {i}."}],
            max_tokens=40,
            temperature=0.7,
            seed=i,
            **extra,
        )

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(results) == [0, 1, 2, 3]
    for i in (0, 2):
        choice = results[i].choices[0]
        if choice.finish_reason == "stop":
            jsonschema.validate(json.loads(choice.message.content), CITY)
        else:  # cut by max_tokens: the closing brace would have completed the grammar
            with pytest.raises(json.JSONDecodeError):
                json.loads(choice.message.content)
    for i in (1, 3):
        assert results[i].choices[0].message.content
