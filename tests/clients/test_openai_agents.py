"""The OpenAI Agents SDK (openai-agents) on its chat-completions model against the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import openai
import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.items import ToolCallItem, ToolCallOutputItem
from openai.types.responses import ResponseFunctionToolCall

from tests.clients.conftest import API_KEY, MODEL, TEXT, City

pytestmark = pytest.mark.anyio


@pytest.fixture
async def model(base_url: str) -> AsyncIterator[OpenAIChatCompletionsModel]:
    set_tracing_disabled(True)  # traces would go to OpenAI's servers
    async with openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0) as client:
        yield OpenAIChatCompletionsModel(model=MODEL, openai_client=client)


async def test_text_answer(model: OpenAIChatCompletionsModel) -> None:
    agent = Agent(
        name="greeter",
        instructions="Greet the user.",
        model=model,
        model_settings=ModelSettings(temperature=0, max_tokens=16),
    )
    result = await Runner.run(agent, "Hello!")
    assert isinstance(result.final_output, str) and result.final_output
    usage = result.context_wrapper.usage
    assert usage.requests == 1 and 0 < usage.output_tokens <= 16


async def test_streamed_text_answer(model: OpenAIChatCompletionsModel) -> None:
    agent = Agent(
        name="greeter",
        model=model,
        model_settings=ModelSettings(temperature=0, max_tokens=16),
    )
    run = Runner.run_streamed(agent, "Hello!")
    deltas = [
        e.data.delta
        async for e in run.stream_events()
        if e.type == "raw_response_event" and e.data.type == "response.output_text.delta"
    ]
    assert len(deltas) > 1 and "".join(deltas) == run.final_output


async def test_function_tool_is_called_with_valid_arguments(
    model: OpenAIChatCompletionsModel,
) -> None:
    seen: list[str] = []

    @function_tool
    def population_of(city: str) -> int:
        """The population of a city.

        Args:
            city: The city's name.
        """
        seen.append(city)
        return 2_100_000

    agent = Agent(
        name="census",
        model=model,
        tools=[population_of],
        tool_use_behavior="stop_on_first_tool",
        model_settings=ModelSettings(temperature=0, max_tokens=60, tool_choice="required"),
    )
    result = await Runner.run(agent, "How many people live in Paris?", max_turns=2)
    assert len(seen) == 1 and isinstance(seen[0], str)
    assert result.final_output == "2100000"  # the tool output as the model would see it
    [call] = [i for i in result.new_items if isinstance(i, ToolCallItem)]
    [output] = [i for i in result.new_items if isinstance(i, ToolCallOutputItem)]
    assert isinstance(call.raw_item, ResponseFunctionToolCall)
    assert cast(dict[str, Any], output.raw_item)["call_id"] == call.raw_item.call_id


async def test_output_type_is_an_instance(model: OpenAIChatCompletionsModel) -> None:
    agent = Agent(
        name="extractor",
        model=model,
        output_type=City,
        model_settings=ModelSettings(temperature=0, max_tokens=100),
    )
    result = await Runner.run(agent, TEXT)
    assert isinstance(result.final_output, City)
