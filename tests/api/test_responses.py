"""The Responses API and Conversations through the official SDK, in process, with the
bundled model: what an app built on ``client.responses`` relies on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from openai.pagination import AsyncCursorPage
from openai.types.responses import Response
from pydantic import BaseModel

from hearth.services.container import Services
from tests.conftest import API_KEY, MODEL, new_project, sdk
from tests.responses_schema import validate_response

pytestmark = pytest.mark.anyio

WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Services]:
    """The services with the background-response runner on this test's loop."""
    await services.responses.start()
    try:
        yield services
    finally:
        await services.responses.stop()


def _body(error: openai.APIStatusError) -> Any:
    return error.body


async def _error(call: Any) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as info:
        await call
    return info.value


async def test_text_answer_is_stored_with_every_field(fresh: openai.AsyncOpenAI) -> None:
    response = await fresh.responses.create(
        model=MODEL,
        instructions="Answer briefly.",
        input="Name a color.",
        max_output_tokens=200,
        temperature=0,
        metadata={"suite": "responses"},
    )
    assert response.status == "completed" and response.object == "response"
    assert response.output_text and response.output[0].type == "message"
    assert response.output[0].role == "assistant" and response.output[0].status == "completed"
    usage = response.usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0  # under OpenAI's 1,024-token floor
    assert response.to_dict()["store"] is True and response.instructions == "Answer briefly."
    assert response.metadata == {"suite": "responses"} and response.completed_at
    stored = await fresh.responses.retrieve(response.id)
    assert stored.model_dump() == response.model_dump()
    raw = await fresh.responses.with_raw_response.retrieve(response.id)
    validate_response(raw.http_response.json())  # the Open Responses ResponseResource
    items = await fresh.responses.input_items.list(response.id)
    assert [i.type for i in items.data] == ["message"]
    first_item: Any = items.data[0]
    assert first_item.content[0].text == "Name a color."


async def test_store_false_is_not_kept(fresh: openai.AsyncOpenAI) -> None:
    response = await fresh.responses.create(
        model=MODEL, input="Hi", store=False, max_output_tokens=16
    )
    assert response.to_dict()["store"] is False
    assert (await _error(fresh.responses.retrieve(response.id))).status_code == 404
    error = await _error(
        fresh.responses.create(model=MODEL, input="Hi", previous_response_id=response.id)
    )
    assert error.status_code == 404 and _body(error)["param"] == "previous_response_id"


async def test_stream_events_match_the_final_response(fresh: openai.AsyncOpenAI) -> None:
    async with fresh.responses.stream(
        model=MODEL, input="Say hello.", max_output_tokens=300, temperature=0
    ) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.output_text
    assert (await fresh.responses.retrieve(final.id)).output_text == final.output_text


async def test_max_output_tokens_makes_it_incomplete(fresh: openai.AsyncOpenAI) -> None:
    response = await fresh.responses.create(
        model=MODEL,
        input="Count to one hundred.",
        max_output_tokens=16,
        temperature=0,
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens == 16


class Color(BaseModel):
    name: str
    hex: str


async def test_parse_enforces_the_schema(fresh: openai.AsyncOpenAI) -> None:
    parsed = await fresh.responses.parse(
        model=MODEL,
        input="A color, as JSON.",
        text_format=Color,
        temperature=0,
        max_output_tokens=200,
    )
    assert isinstance(parsed.output_parsed, Color)
    assert parsed.text is not None and parsed.text.format is not None
    assert parsed.text.format.type == "json_schema"


async def test_function_call_round_trip_replays_the_whole_chain(
    fresh: openai.AsyncOpenAI,
) -> None:
    first = await fresh.responses.create(
        model=MODEL,
        input="What is the weather in Paris?",
        tools=[WEATHER],
        tool_choice="required",
        temperature=0,
        max_output_tokens=100,
    )
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.call_id.startswith("call_") and call.status == "completed"
    answer: Any = {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21 C"}
    second = await fresh.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[answer],
        tools=[WEATHER],
        max_output_tokens=60,
        temperature=0,
    )
    assert second.status in ("completed", "incomplete")
    assert second.previous_response_id == first.id
    for stored_id in (first.id, second.id):
        raw = await fresh.responses.with_raw_response.retrieve(stored_id)
        validate_response(raw.http_response.json())
    # the chain replays the question, the call and its output: counting the same items
    # sent explicitly gives the same prompt
    explicit: Any = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        answer,
    ]
    chained = await fresh.responses.input_tokens.count(
        model=MODEL,
        previous_response_id=first.id,
        input=[answer],
        tools=[WEATHER],
    )
    direct = await fresh.responses.input_tokens.count(
        model=MODEL,
        input=explicit,
        tools=[WEATHER],
    )
    assert chained.input_tokens == direct.input_tokens > 0


async def test_streamed_function_call_events(fresh: openai.AsyncOpenAI) -> None:
    async with fresh.responses.stream(
        model=MODEL,
        input="Weather in Rome?",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        temperature=0,
        max_output_tokens=100,
    ) as stream:
        events = [event async for event in stream]
    types = [e.type for e in events]
    assert types[2] == "response.output_item.added"
    assert "response.function_call_arguments.delta" in types
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert len(done) == 1 and done[0].to_dict()["name"] == "get_weather"
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert deltas == done[0].arguments and types[-1] == "response.completed"


@pytest.mark.parametrize(
    ("input_", "param"),
    [
        ([{"type": "telepathy", "content": "x"}], "input[0].type"),
        ([{"role": "wizard", "content": "x"}], "input[0].role"),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is this?"},
                        {"type": "input_image", "image_url": "https://example.com/a.png"},
                    ],
                }
            ],
            "input[0].content[1].type",
        ),
        ([{"type": "function_call_output", "call_id": "call_nope", "output": "x"}], "input[0]"),
    ],
)
async def test_bad_input_is_a_400_naming_it(
    fresh: openai.AsyncOpenAI, input_: Any, param: str
) -> None:
    error = await _error(fresh.responses.create(model=MODEL, input=input_))
    assert error.status_code == 400
    assert _body(error)["param"] == param
    assert _body(error)["type"] == "invalid_request_error"


async def test_bad_tools_and_options_are_400s(fresh: openai.AsyncOpenAI) -> None:
    cases: list[tuple[dict[str, Any], str | None]] = [
        ({"tools": [{"type": "web_search_preview"}]}, "tools[0].type"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "name": "x"}}, "tool_choice"),
        ({"include": ["everything"]}, "include[0]"),
        ({"background": True, "store": False}, "background"),
        ({"temperature": 3}, "temperature"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_nope"]}]}, None),
    ]
    for extra, param in cases:
        error = await _error(fresh.responses.create(model=MODEL, input="Hi", **extra))
        assert error.status_code in (400, 404), extra
        if param is not None:
            assert _body(error)["param"] == param, extra
    missing = await _error(fresh.responses.create(model="no-such-model", input="Hi"))
    assert missing.status_code == 404


async def test_other_projects_responses_are_invisible(
    services: Services, http: httpx2.AsyncClient, fresh: openai.AsyncOpenAI
) -> None:
    mine = await fresh.responses.create(model=MODEL, input="Hi", max_output_tokens=16)
    other = sdk(http, new_project(services)[1])  # shares ``http``: not closed here
    for call in (
        other.responses.retrieve(mine.id),
        other.responses.delete(mine.id),
        other.responses.input_items.list(mine.id),
        other.responses.create(model=MODEL, input="Hi", previous_response_id=mine.id),
    ):
        assert (await _error(call)).status_code == 404
    await fresh.responses.delete(mine.id)
    assert (await _error(fresh.responses.retrieve(mine.id))).status_code == 404


async def test_stored_responses_are_listed_newest_first_with_filters(
    services: Services, http: httpx2.AsyncClient, fresh: openai.AsyncOpenAI
) -> None:
    made = [
        await fresh.responses.create(
            model=MODEL, input=f"Say {i}", max_output_tokens=16, metadata={"n": str(i % 2)}
        )
        for i in range(3)
    ]
    await fresh.responses.create(model=MODEL, input="Not kept", max_output_tokens=16, store=False)

    async def listed(**params: Any) -> list[Response]:
        page = await fresh.get_api_list(
            "/responses", model=Response, page=AsyncCursorPage[Response], options={"params": params}
        )
        return [r async for r in page]

    newest_first = await listed(limit=2)  # pages through both pages
    assert [r.id for r in newest_first] == [r.id for r in reversed(made)]
    assert newest_first[0] == await fresh.responses.retrieve(made[2].id)
    assert [r.id for r in await listed(order="asc")] == [r.id for r in made]
    assert [r.id for r in await listed(**{"metadata[n]": "0"})] == [made[2].id, made[0].id]
    assert await listed(model="another-model") == []
    other = sdk(http, new_project(services)[1])  # shares ``http``: not closed here
    assert [
        r
        async for r in other.get_api_list(
            "/responses", model=Response, page=AsyncCursorPage[Response]
        )
    ] == []
    bad = await _error(fresh.get("/responses", cast_to=object, options={"params": {"limit": 0}}))
    assert bad.status_code == 400


async def test_truncation(fresh: openai.AsyncOpenAI) -> None:
    history: Any = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": "word " * 150} for i in range(16)
    ]
    history.append({"role": "user", "content": "Summarize."})
    error = await _error(fresh.responses.create(model=MODEL, input=history, max_output_tokens=64))
    assert error.status_code == 400 and error.code == "context_length_exceeded"
    assert _body(error)["param"] == "input"
    response = await fresh.responses.create(
        model=MODEL,
        input=history,
        max_output_tokens=16,
        truncation="auto",
    )
    assert response.truncation == "auto" and response.status in ("completed", "incomplete")
    assert response.usage is not None and response.usage.input_tokens < 2048


async def test_background_response_runs_to_completion(running: Services) -> None:
    transport = httpx2.ASGITransport(app=_app(running))
    async with (
        httpx2.AsyncClient(transport=transport, base_url="http://hearth.test") as http,
        sdk(http, API_KEY) as client,
    ):
        queued = await client.responses.create(
            model=MODEL, input="Say hi.", background=True, max_output_tokens=32
        )
        assert queued.status == "queued" and queued.background is True
        seen: set[str] = {str(queued.status)}
        final = await _poll(client, queued.id, seen)
        assert final.status in ("completed", "incomplete") and final.output_text
        raw = await client.responses.with_raw_response.retrieve(final.id)
        validate_response(raw.http_response.json())
        assert "in_progress" in seen or final.status != "queued"
        # a finished response cannot be cancelled; a foreground one never
        assert (await _error(client.responses.cancel(final.id))).status_code == 400
        fg = await client.responses.create(model=MODEL, input="Hi", max_output_tokens=16)
        assert (await _error(client.responses.cancel(fg.id))).status_code == 400


async def test_background_response_can_be_cancelled(running: Services) -> None:
    transport = httpx2.ASGITransport(app=_app(running))
    async with (
        httpx2.AsyncClient(transport=transport, base_url="http://hearth.test") as http,
        sdk(http, API_KEY) as client,
    ):
        queued = await client.responses.create(
            model=MODEL,
            input="Write a long story.",
            background=True,
            max_output_tokens=1500,
            extra_body={"temperature": 1},
        )
        cancelled = await client.responses.cancel(queued.id)
        assert cancelled.status == "cancelled"
        await asyncio.sleep(0.5)
        again = await client.responses.retrieve(queued.id)
        assert again.status == "cancelled"
        assert (await client.responses.cancel(queued.id)).status == "cancelled"


async def test_background_response_streamed_then_resumed(running: Services) -> None:
    transport = httpx2.ASGITransport(app=_app(running))
    async with (
        httpx2.AsyncClient(transport=transport, base_url="http://hearth.test") as http,
        sdk(http, API_KEY) as client,
    ):
        stream = await client.responses.create(
            model=MODEL, input="Say hi.", background=True, stream=True, max_output_tokens=32
        )
        events = [event async for event in stream]
        types = [e.type for e in events]
        assert types[:3] == ["response.created", "response.queued", "response.in_progress"]
        assert events[0].response.status == "queued" and events[0].response.background
        assert types[-1] in ("response.completed", "response.incomplete")
        assert [e.sequence_number for e in events] == list(range(len(events)))
        response_id = events[0].response.id
        final = await client.responses.retrieve(response_id)
        assert final.status == events[-1].response.status
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert deltas == final.output_text
        # the events stay available: the SDK resumes a stream after a sequence number
        resumed = await client.responses.retrieve(response_id, stream=True, starting_after=2)
        again = [event async for event in resumed]
        assert [e.sequence_number for e in again] == list(range(3, len(events)))
        assert [e.type for e in again] == types[3:]
        # a foreground response has no events to stream afterwards
        fg = await client.responses.create(model=MODEL, input="Hi", max_output_tokens=16)
        with pytest.raises(openai.BadRequestError) as refused:
            await client.responses.retrieve(fg.id, stream=True)
        assert refused.value.body["param"] == "stream"  # type: ignore[index]


def _text_of(item: Any) -> str:
    return str(item.content[0].text)


def _app(services: Services) -> Any:
    from hearth.app import create_app

    return create_app(services.settings, services)


async def _poll(client: openai.AsyncOpenAI, response_id: str, seen: set[str]) -> Response:
    for _ in range(2400):  # two minutes: a loaded CI machine is slow
        response = await client.responses.retrieve(response_id)
        seen.add(str(response.status))
        if response.status not in ("queued", "in_progress"):
            return response
        await asyncio.sleep(0.05)
    raise AssertionError("the background response never finished")


async def test_conversation_collects_every_turn(fresh: openai.AsyncOpenAI) -> None:
    conversation = await fresh.conversations.create(
        items=[{"role": "user", "content": "My name is Ada."}], metadata={"topic": "names"}
    )
    assert conversation.object == "conversation" and conversation.metadata == {"topic": "names"}
    first = await fresh.responses.create(
        model=MODEL, conversation=conversation.id, input="Hello!", max_output_tokens=24
    )
    assert first.conversation is not None and first.conversation.id == conversation.id
    await fresh.responses.create(
        model=MODEL, conversation=conversation.id, input="Again.", max_output_tokens=24
    )
    items = await fresh.conversations.items.list(conversation.id, order="asc")
    kinds = [(i.type, getattr(i, "role", None)) for i in items.data]
    assert kinds == [
        ("message", "user"),
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
        ("message", "assistant"),
    ]
    assert items.data[2].id == first.output[0].id  # the response's own output item
    second: Any = items.data[1]
    one: Any = await fresh.conversations.items.retrieve(second.id, conversation_id=conversation.id)
    assert one.id == second.id
    added = await fresh.conversations.items.create(
        conversation.id, items=[{"role": "user", "content": "Bye."}]
    )
    assert len(added.data) == 1
    new_item: Any = added.data[0]
    await fresh.conversations.items.delete(new_item.id, conversation_id=conversation.id)
    assert len((await fresh.conversations.items.list(conversation.id)).data) == 5
    updated = await fresh.conversations.update(conversation.id, metadata={"topic": "x"})
    assert updated.metadata == {"topic": "x"}
    deleted = await fresh.conversations.delete(conversation.id)
    assert deleted.deleted is True
    gone = await _error(fresh.conversations.retrieve(conversation.id))
    assert gone.status_code == 404
    error = await _error(
        fresh.responses.create(model=MODEL, conversation=conversation.id, input="Hi")
    )
    assert error.status_code == 404 and _body(error)["param"] == "conversation"


async def test_conversation_and_previous_response_exclude_each_other(
    fresh: openai.AsyncOpenAI,
) -> None:
    conversation = await fresh.conversations.create()
    first = await fresh.responses.create(model=MODEL, input="Hi", max_output_tokens=16)
    error = await _error(
        fresh.responses.create(
            model=MODEL, input="Hi", conversation=conversation.id, previous_response_id=first.id
        )
    )
    assert error.status_code == 400


async def test_compaction_stands_for_the_history(fresh: openai.AsyncOpenAI) -> None:
    history: Any = [
        {"role": "user", "content": "I am planning a trip to Lisbon in May."},
        {"role": "assistant", "content": "Lisbon in May is warm and sunny."},
        {"role": "user", "content": "What should I pack?"},
    ]
    compacted = await fresh.responses.compact(model=MODEL, input=history)
    assert compacted.object == "response.compaction"
    kinds = [item.type for item in compacted.output]
    assert kinds == ["message", "message", "compaction"]
    assert compacted.usage.output_tokens > 0
    # the SDK reads the kept user messages as output messages, unvalidated: send the JSON
    kept: Any = compacted.model_dump(mode="json", warnings=False, exclude_unset=True)["output"]
    follow_up = await fresh.responses.create(
        model=MODEL,
        input=[*kept, {"role": "user", "content": "Thanks"}],
        max_output_tokens=16,
    )
    assert follow_up.status in ("completed", "incomplete")


async def test_input_items_pages(fresh: openai.AsyncOpenAI) -> None:
    sent: Any = [{"role": "user", "content": f"Message {n}"} for n in range(5)]
    response = await fresh.responses.create(
        model=MODEL,
        input=sent,
        max_output_tokens=16,
    )
    newest_first = await fresh.responses.input_items.list(response.id, limit=2)
    assert len(newest_first.data) == 2 and newest_first.has_more
    texts = [
        _text_of(i)
        async for i in fresh.responses.input_items.list(response.id, order="asc", limit=2)
    ]
    assert texts == [f"Message {n}" for n in range(5)]


async def test_logprobs_are_included_when_asked(fresh: openai.AsyncOpenAI) -> None:
    response = await fresh.responses.create(
        model=MODEL,
        input="Hi",
        max_output_tokens=16,
        include=["message.output_text.logprobs"],
        top_logprobs=2,
    )
    message: Any = response.output[0]
    part = message.content[0]
    assert part.logprobs and len(part.logprobs[0].top_logprobs) == 2
