"""Assistants runs through the official SDK's helpers, in process, with the bundled
model: ``create_and_poll``, streaming with an ``AssistantEventHandler``, a function call
round trip through ``requires_action``, file search with citations, cancel, the one
active run per thread, expiry and project isolation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2
import openai
import pytest
from openai import AsyncAssistantEventHandler
from openai.types.beta import AssistantStreamEvent

from hearth.services.container import Services
from tests.conftest import MODEL, new_project, sdk

pytestmark = [
    pytest.mark.anyio,
    # the SDK marks the Assistants API deprecated (its methods warn on every call)
    pytest.mark.filterwarnings(
        "ignore:(deprecated|The Assistants API is deprecated):DeprecationWarning"
    ),
]

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


@pytest.fixture
async def client(services: Services, http: httpx2.AsyncClient) -> openai.AsyncOpenAI:
    return sdk(http, new_project(services)[1])


async def test_create_and_poll_answers_in_the_thread(
    running: Services, client: openai.AsyncOpenAI
) -> None:
    assistant = await client.beta.assistants.create(
        model=MODEL, instructions="You are a helpful assistant."
    )
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Say hello."}])
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        max_completion_tokens=20,
        poll_interval_ms=50,
    )
    assert run.status in ("completed", "incomplete"), run.last_error
    assert run.usage is not None and run.usage.completion_tokens > 0
    assert run.started_at is not None and run.model == MODEL
    messages = await client.beta.threads.messages.list(thread.id, order="asc")
    assert [m.role for m in messages.data] == ["user", "assistant"]
    answer = messages.data[1]
    assert answer.run_id == run.id and answer.assistant_id == assistant.id
    assert answer.content[0].type == "text" and answer.content[0].text.value
    steps = await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
    (step,) = steps.data
    assert step.type == "message_creation" and step.status == "completed"
    assert step.step_details.message_creation.message_id == answer.id  # type: ignore[union-attr]


class Recorder(AsyncAssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.text: list[str] = []

    async def on_event(self, event: AssistantStreamEvent) -> None:
        self.events.append(event.event)

    async def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.text.append(delta.value or "")


async def test_stream_with_an_event_handler(running: Services, client: openai.AsyncOpenAI) -> None:
    assistant = await client.beta.assistants.create(model=MODEL)
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Hi!"}])
    handler = Recorder()
    async with client.beta.threads.runs.stream(
        thread_id=thread.id,
        assistant_id=assistant.id,
        max_completion_tokens=12,
        event_handler=handler,
    ) as stream:
        await stream.until_done()
    events = handler.events
    assert events[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert events[3:7] == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
    ]
    assert "thread.message.delta" in events
    assert events[-3:-1] in (
        ["thread.message.completed", "thread.run.step.completed"],
        ["thread.message.incomplete", "thread.run.step.completed"],
    )
    assert events[-1] in ("thread.run.completed", "thread.run.incomplete")
    final = await stream.get_final_messages()
    assert final[0].content[0].text.value.startswith("".join(handler.text))  # type: ignore[union-attr]


async def test_function_call_round_trip(running: Services, client: openai.AsyncOpenAI) -> None:
    assistant = await client.beta.assistants.create(model=MODEL, tools=[WEATHER])
    thread = await client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the weather in Paris?"}]
    )
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        poll_interval_ms=50,
    )
    assert run.status == "requires_action", run.last_error
    assert run.required_action is not None and run.expires_at is not None
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather" and "city" in call.function.arguments
    done = await client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "Sunny, 21 C"}],
        poll_interval_ms=50,
    )
    # the tiny model may call the function again after reading the output
    assert done.status in ("completed", "incomplete", "requires_action"), done.last_error
    steps = (
        await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    ).data
    assert steps[0].type == "tool_calls" and len(steps) >= 2
    tool = steps[0].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert tool.type == "function" and tool.function.output == "Sunny, 21 C"
    assert steps[0].status == "completed"
    with pytest.raises(openai.BadRequestError):  # no longer waiting for that call
        await client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id}]
        )


async def test_cancel_and_one_active_run_per_thread(
    services: Services, client: openai.AsyncOpenAI
) -> None:
    # the runner is not started here: runs stay queued
    assistant = await client.beta.assistants.create(model=MODEL)
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "queued"
    with pytest.raises(openai.BadRequestError) as busy:
        await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert "active run" in busy.value.message
    # the SDK's polling helpers ask again after the server's interval, not after 1 s
    raw = await client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    assert raw.headers["openai-poll-after-ms"] == "50"
    cancelled = await client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    again = await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert again.status == "queued"
    listed = await client.beta.threads.runs.list(thread.id)
    assert [r.id for r in listed.data] == [again.id, run.id]
    raw = await client.beta.threads.runs.with_raw_response.cancel(again.id, thread_id=thread.id)
    assert "openai-poll-after-ms" not in raw.headers  # cancelled: nothing to wait for
    with pytest.raises(openai.BadRequestError):
        await client.beta.threads.runs.cancel(again.id, thread_id=thread.id)


async def test_a_run_waiting_too_long_expires(
    services: Services, client: openai.AsyncOpenAI
) -> None:
    assistant = await client.beta.assistants.create(model=MODEL)
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    repo = services.runs._repo
    row = repo.by_id(run.id)
    assert row is not None
    repo.write(run.id, {**row.object, "expires_at": 1})
    assert (await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)).status == (
        "expired"
    )


async def test_runs_of_other_projects_are_invisible(
    services: Services, http: httpx2.AsyncClient, client: openai.AsyncOpenAI
) -> None:
    assistant = await client.beta.assistants.create(model=MODEL)
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    other = sdk(http, new_project(services)[1])
    with pytest.raises(openai.NotFoundError):
        await other.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    with pytest.raises(openai.NotFoundError):
        await other.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    await client.beta.threads.runs.cancel(run.id, thread_id=thread.id)


async def test_bad_run_requests(client: openai.AsyncOpenAI) -> None:
    assistant = await client.beta.assistants.create(model=MODEL)
    thread = await client.beta.threads.create()
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.runs.create(thread_id=thread.id, assistant_id="asst_missing")
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, model="no-such-model"
        )
    with pytest.raises(openai.BadRequestError):
        await client.beta.threads.runs.create(
            thread_id=thread.id,
            assistant_id=assistant.id,
            include=["bogus"],  # type: ignore[list-item]
        )


async def test_truncation_and_max_prompt_tokens(
    running: Services, client: openai.AsyncOpenAI
) -> None:
    assistant = await client.beta.assistants.create(model=MODEL, instructions="Be brief.")
    history: Any = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"Message {i}: " + "words " * 30}
        for i in range(30)
    ]
    thread = await client.beta.threads.create(messages=history)
    await client.beta.threads.messages.create(thread.id, role="user", content="Say ok.")

    async def prompt_tokens(**options: Any) -> int:
        run = await client.beta.threads.runs.create_and_poll(
            thread_id=thread.id,
            assistant_id=assistant.id,
            max_completion_tokens=4,
            poll_interval_ms=50,
            **options,
        )
        assert run.status in ("completed", "incomplete"), run.last_error
        assert run.usage is not None
        return run.usage.prompt_tokens

    whole = await prompt_tokens()
    assert whole > 1000  # every message is in the prompt
    limited = await prompt_tokens(max_prompt_tokens=300)
    assert 0 < limited <= 300  # the oldest messages were left out to fit
    last_two = await prompt_tokens(
        truncation_strategy={"type": "last_messages", "last_messages": 2}
    )
    assert last_two < limited
    # the thread itself keeps every message
    kept = await client.beta.threads.messages.list(thread.id, limit=100)
    assert len([m for m in kept.data if m.role == "user"]) >= 16


async def test_file_search_through_a_run_cites_the_document(
    running: Services, client: openai.AsyncOpenAI
) -> None:
    from tests.retrieval.conftest import FIXTURES

    await running.vector_stores.start()
    try:
        store = await client.vector_stores.create(name="logbook")
        done = await client.vector_stores.files.upload_and_poll(
            vector_store_id=store.id,
            file=("lighthouse.md", (FIXTURES / "lighthouse.md").read_bytes()),
            poll_interval_ms=50,
        )
    finally:
        await running.vector_stores.stop()
    assert done.status == "completed"
    assistant = await client.beta.assistants.create(
        model=MODEL,
        tools=[{"type": "file_search", "file_search": {"max_num_results": 1}}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    run = await client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Where does the lighthouse stand?"}]},
        tool_choice={"type": "file_search"},
        max_completion_tokens=500,
        temperature=0,
        poll_interval_ms=50,
    )
    assert run.status in ("completed", "incomplete"), run.last_error
    content = "step_details.tool_calls[*].file_search.results[*].content"
    steps = (
        await client.beta.threads.runs.steps.list(
            run.id, thread_id=run.thread_id, order="asc", include=[content]
        )
    ).data
    assert steps[0].type == "tool_calls" and steps[-1].type == "message_creation"
    search: Any = steps[0].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert search.type == "file_search" and len(search.file_search.results) == 1
    assert {r.file_id for r in search.file_search.results} == {done.id}
    assert all(r.content and r.content[0].text for r in search.file_search.results)
    messages = await client.beta.threads.messages.list(run.thread_id, order="asc")
    text: Any = messages.data[-1].content[0]
    (citation,) = text.text.annotations
    assert citation.type == "file_citation" and citation.file_citation.file_id == done.id
    assert text.text.value[citation.start_index : citation.end_index] == citation.text


async def test_code_interpreter_through_a_run(
    running: Services, client: openai.AsyncOpenAI, sandboxes: Any
) -> None:
    code = await client.files.create(file=("data.csv", b"a,b\n1,2\n"), purpose="assistants")
    assistant = await client.beta.assistants.create(
        model=MODEL,
        instructions="You are a helpful assistant. Use the python tool to run code.",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [code.id]}},
    )
    thread = await client.beta.threads.create(
        messages=[{"role": "user", "content": "Save the word hello in hello.txt with Python."}]
    )
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        tool_choice={"type": "code_interpreter"},
        max_completion_tokens=150,
        temperature=0,
        poll_interval_ms=50,
    )
    assert run.status in ("completed", "incomplete"), run.last_error
    steps = (
        await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    ).data
    call: Any = steps[0].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert call.type == "code_interpreter" and call.code_interpreter.input
    assert call.code_interpreter.outputs and call.code_interpreter.outputs[0].type == "logs"
    # the run's container (the project's only one) holds the assistant's file
    (container,) = (await client.containers.list()).data
    files = await client.containers.files.list(container.id)
    assert "/mnt/data/data.csv" in {f.path for f in files.data}


async def test_polling_helpers_get_a_long_poll(
    services: Services, client: openai.AsyncOpenAI
) -> None:
    # the runner is not started: the run stays queued until cancelled
    assistant = await client.beta.assistants.create(model=MODEL)
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    caller = services.api_keys.verify(client.api_key)
    assert caller is not None
    started = time.monotonic()
    same = await services.runs.retrieve_when_changed(caller, thread.id, run.id, timeout=0.3)
    assert same.status == "queued" and time.monotonic() - started >= 0.3

    async def cancel_soon() -> None:
        await asyncio.sleep(0.2)
        await client.beta.threads.runs.cancel(run.id, thread_id=thread.id)

    canceller = asyncio.create_task(cancel_soon())
    started = time.monotonic()
    changed = await services.runs.retrieve_when_changed(caller, thread.id, run.id, timeout=10)
    await canceller
    assert changed.status == "cancelled" and time.monotonic() - started < 5  # not the timeout
    # the SDK's helper says it is one (X-Stainless-Poll-Helper) and is told to ask again at once
    raw = await client.beta.threads.runs.with_raw_response.retrieve(
        run.id, thread_id=thread.id, extra_headers={"X-Stainless-Poll-Helper": "true"}
    )
    assert raw.headers.get("openai-poll-after-ms") is None  # cancelled: not active
