"""pydantic-ai agents on ``OpenAIChatModel`` (chat completions) against the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from pydantic_ai import Agent, NativeOutput, RunContext
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.messages import ToolCallPart, ToolReturnPart
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import UsageLimits

from tests.clients.conftest import API_KEY, MODEL, TEXT, City

pytestmark = pytest.mark.anyio

SETTINGS: ModelSettings = {"temperature": 0, "max_tokens": 120}


@pytest.fixture
async def model(base_url: str) -> AsyncIterator[OpenAIChatModel]:
    async with openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0) as client:
        yield OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=client))


@dataclass
class ToolFirst(AbstractCapability[Any]):
    """Calls ``tool`` on the first step and the output tool after, as pydantic-ai's
    tool-choice guide does it: a 135M model would not choose a tool reliably."""

    tool: str

    def get_model_settings(self) -> Any:
        return lambda ctx: {"tool_choice": [self.tool] if ctx.run_step <= 1 else ["final_result"]}


async def test_text_run(model: OpenAIChatModel) -> None:
    result = await Agent(model, model_settings={"temperature": 0, "max_tokens": 16}).run("Hi.")
    assert isinstance(result.output, str) and result.output
    assert result.usage.requests == 1 and 0 < result.usage.output_tokens <= 16


async def test_streamed_text_run(model: OpenAIChatModel) -> None:
    agent = Agent(model, model_settings={"temperature": 0, "max_tokens": 16})
    async with agent.run_stream("Say hello.") as run:
        pieces = [d async for d in run.stream_text(delta=True)]
    assert len(pieces) > 1 and "".join(pieces)


async def test_function_tool_runs_then_output(model: OpenAIChatModel) -> None:
    seen: list[str] = []
    agent = Agent(
        model,
        output_type=City,
        model_settings=SETTINGS,
        capabilities=[ToolFirst("population_of")],
    )

    @agent.tool
    def population_of(ctx: RunContext[None], city: str) -> int:
        """The population of a city."""
        seen.append(city)
        return 2_100_000

    result = await agent.run(
        "How many people live in Paris?", usage_limits=UsageLimits(request_limit=4)
    )
    assert len(seen) == 1 and isinstance(seen[0], str)
    assert isinstance(result.output, City)
    parts = [p for m in result.all_messages() for p in m.parts]
    calls = [p for p in parts if isinstance(p, ToolCallPart)]
    returns = [p for p in parts if isinstance(p, ToolReturnPart)]
    assert [c.tool_name for c in calls] == ["population_of", "final_result"]
    assert returns[0].tool_call_id == calls[0].tool_call_id and returns[0].content == 2_100_000


async def test_output_type_is_an_instance(model: OpenAIChatModel) -> None:
    result = await Agent(model, output_type=City, model_settings=SETTINGS).run(TEXT)
    assert isinstance(result.output, City)


async def test_native_output_is_an_instance(model: OpenAIChatModel) -> None:
    # NativeOutput: a json_schema response format instead of an output tool
    result = await Agent(model, output_type=NativeOutput(City), model_settings=SETTINGS).run(TEXT)
    assert isinstance(result.output, City)
    assert not any(isinstance(p, ToolCallPart) for m in result.all_messages() for p in m.parts)
