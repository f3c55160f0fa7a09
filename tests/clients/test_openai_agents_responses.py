"""The OpenAI Agents SDK (openai-agents) on its default model, the Responses API, against
the server: runs, streams, function tools, handoffs, structured outputs and a
Conversations-backed session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import openai
import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.items import HandoffOutputItem, ToolCallItem, ToolCallOutputItem
from agents.memory import OpenAIConversationsSession
from openai.types.conversations import ConversationItem, Message
from openai.types.responses import ResponseFunctionToolCall, ResponseInputText
from pydantic import TypeAdapter

from tests.clients.conftest import API_KEY, MODEL, TEXT, City

pytestmark = pytest.mark.anyio

# the SDK raises on an ``incomplete`` response: short answers end before max_tokens
BRIEF = "Answer in one short sentence."
_CONVERSATION_ITEMS = TypeAdapter(list[ConversationItem])


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    set_tracing_disabled(True)  # traces would go to OpenAI's servers
    async with openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
def model(client: openai.AsyncOpenAI) -> OpenAIResponsesModel:
    return OpenAIResponsesModel(model=MODEL, openai_client=client)


async def test_text_answer(model: OpenAIResponsesModel) -> None:
    agent = Agent(
        name="greeter",
        instructions=BRIEF,
        model=model,
        model_settings=ModelSettings(temperature=0, max_tokens=64),
    )
    result = await Runner.run(agent, "Hello!")
    assert isinstance(result.final_output, str) and result.final_output
    usage = result.context_wrapper.usage
    assert usage.requests == 1 and 0 < usage.output_tokens <= 64
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    [raw] = result.raw_responses
    assert raw.response_id and raw.response_id.startswith("resp_")


async def test_streamed_text_answer(model: OpenAIResponsesModel) -> None:
    agent = Agent(
        name="greeter",
        instructions=BRIEF,
        model=model,
        model_settings=ModelSettings(temperature=0, max_tokens=64),
    )
    run = Runner.run_streamed(agent, "Hello!")
    types: list[str] = []
    deltas: list[str] = []
    async for e in run.stream_events():
        if e.type == "raw_response_event":
            types.append(e.data.type)
            if e.data.type == "response.output_text.delta":
                deltas.append(e.data.delta)
    assert len(deltas) > 1 and "".join(deltas) == run.final_output
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert run.is_complete and run.context_wrapper.usage.output_tokens > 0


async def test_function_tool_is_called_with_valid_arguments(
    model: OpenAIResponsesModel,
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
    assert result.final_output == "2100000"
    [call] = [i for i in result.new_items if isinstance(i, ToolCallItem)]
    [output] = [i for i in result.new_items if isinstance(i, ToolCallOutputItem)]
    assert isinstance(call.raw_item, ResponseFunctionToolCall)
    assert call.raw_item.name == "population_of" and call.raw_item.id
    assert cast(dict[str, Any], output.raw_item)["call_id"] == call.raw_item.call_id


async def test_handoff_reaches_the_other_agent(model: OpenAIResponsesModel) -> None:
    # each agent's first turn has a required tool, so the run is deterministic: triage
    # hands off (its only tool), then the census agent calls its tool and stops
    seen: list[str] = []

    @function_tool
    def population_of(city: str) -> int:
        """The population of a city.

        Args:
            city: The city's name.
        """
        seen.append(city)
        return 2_100_000

    census = Agent(
        name="census",
        handoff_description="Knows the population of cities.",
        model=model,
        tools=[population_of],
        tool_use_behavior="stop_on_first_tool",
        model_settings=ModelSettings(temperature=0, max_tokens=60, tool_choice="required"),
    )
    triage = Agent(
        name="triage",
        instructions="Hand off to the census agent.",
        model=model,
        handoffs=[census],
        model_settings=ModelSettings(temperature=0, max_tokens=40, tool_choice="required"),
    )
    result = await Runner.run(triage, "How many people live in Paris?", max_turns=3)
    assert result.last_agent is census
    [handoff] = [i for i in result.new_items if isinstance(i, HandoffOutputItem)]
    assert handoff.source_agent is triage and handoff.target_agent is census
    assert len(seen) == 1 and result.final_output == "2100000"
    assert len(result.raw_responses) == 2


async def test_output_type_is_an_instance(model: OpenAIResponsesModel) -> None:
    agent = Agent(
        name="extractor",
        model=model,
        output_type=City,
        model_settings=ModelSettings(temperature=0, max_tokens=100),
    )
    result = await Runner.run(agent, TEXT)
    assert isinstance(result.final_output, City)


async def test_conversations_session_carries_the_history(
    client: openai.AsyncOpenAI, model: OpenAIResponsesModel
) -> None:
    session = OpenAIConversationsSession(openai_client=client)
    agent = Agent(
        name="chatter",
        instructions=BRIEF,
        model=model,
        model_settings=ModelSettings(temperature=0, max_tokens=64),
    )
    try:
        first = await Runner.run(agent, "My name is Ada.", session=session)
        assert isinstance(first.final_output, str)
        after_first = await session.get_items()
        second = await Runner.run(agent, "What is my name?", session=session)
        assert isinstance(second.final_output, str)
        after_second = await session.get_items()
        assert session.session_id.startswith("conv_")
        assert len(after_second) > len(after_first) >= 2
        # the session's items are the server's conversation items, as the SDK types them
        items = _CONVERSATION_ITEMS.validate_python(after_second)
        users = [i for i in items if isinstance(i, Message) and i.role == "user"]
        texts = [p.text for i in users for p in i.content if isinstance(p, ResponseInputText)]
        assert texts == ["My name is Ada.", "What is my name?"]
        # the second request saw the first turn: its prompt is longer than the first's
        assert second.context_wrapper.usage.input_tokens > first.context_wrapper.usage.input_tokens
    finally:
        await session.clear_session()
