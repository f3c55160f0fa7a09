"""The Responses ``code_interpreter`` tool through the SDK with the bundled model, in
process, over real containers. Asked plainly, the 135M model writes a code string that
never ends; so these tests force the tool (``tool_choice``) and show it one earlier call
as input (a replayed ``code_interpreter_call`` item), after which it copies the code it
is asked to run. Fixed code with a scripted model runs through the same runtime in
tests/sandbox/test_responses_tool.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest

from hearth.domain import PageParams
from hearth.sandbox import Sandboxes
from hearth.services.container import Services
from tests.conftest import MODEL, new_project, sdk
from tests.responses_schema import validate_response

pytestmark = pytest.mark.anyio

FORCE: Any = {"type": "code_interpreter"}


def ask(container_id: str, code: str) -> Any:
    """Input asking to run ``code``, after one example call (the model copies it)."""
    return [
        {"role": "user", "content": "Run: print(1 + 1)"},
        {
            "type": "code_interpreter_call",
            "id": "ci_example",
            "code": "print(1 + 1)",
            "container_id": container_id,
            "outputs": [{"type": "logs", "logs": "2\n"}],
            "status": "completed",
        },
        {"role": "assistant", "content": "2"},
        {"role": "user", "content": f"Run: {code}"},
    ]


@pytest.fixture
async def client(
    services: Services, http: httpx2.AsyncClient, sandboxes: Sandboxes
) -> AsyncIterator[openai.AsyncOpenAI]:
    """A new project's client; its containers are deleted afterwards."""
    key = new_project(services)[1]
    caller = await services.auth.authenticate(key)
    yield sdk(http, key)
    for c in (await services.containers.list(caller, PageParams(limit=100))).data:
        await services.containers.delete(caller, c.id)


async def test_forced_call_runs_in_the_named_container(client: openai.AsyncOpenAI) -> None:
    container = await client.containers.create(name="responses")
    before = container.last_active_at
    raw = await client.responses.with_raw_response.create(
        model=MODEL,
        input=ask(container.id, "print(6 * 7)"),
        tools=[{"type": "code_interpreter", "container": container.id}],
        tool_choice=FORCE,
        include=["code_interpreter_call.outputs"],
        max_output_tokens=300,
        temperature=0,
    )
    response = raw.parse()
    validate_response(raw.http_response.json(), spec=False)
    call = response.output[0]
    assert call.type == "code_interpreter_call"
    assert call.id.startswith("ci_") and call.container_id == container.id
    assert call.code == "print(6 * 7)" and call.status == "completed"
    assert call.outputs is not None
    assert [(o.type, getattr(o, "logs", None)) for o in call.outputs] == [("logs", "42\n")]
    assert response.tools[0].type == "code_interpreter"
    after = await client.containers.retrieve(container.id)
    assert after.last_active_at is not None and before is not None
    assert after.last_active_at >= before
    # without the include, the outputs are withheld (kept for the next turn)
    again = await client.responses.retrieve(response.id)
    assert again.output[0].type == "code_interpreter_call" and again.output[0].outputs is None
    follow = await client.responses.create(
        model=MODEL,
        input="What did the code print?",
        previous_response_id=response.id,
        tools=[{"type": "code_interpreter", "container": container.id}],
        tool_choice="none",
        max_output_tokens=20,
    )
    assert follow.status in ("completed", "incomplete") and follow.output_text


async def test_streamed_events_in_openais_order(client: openai.AsyncOpenAI) -> None:
    container = await client.containers.create(name="stream")
    stream = await client.responses.create(
        model=MODEL,
        input=ask(container.id, "print(6 * 7)"),
        tools=[{"type": "code_interpreter", "container": container.id}],
        tool_choice=FORCE,
        max_output_tokens=300,
        temperature=0,
        stream=True,
    )
    events = [event async for event in stream]
    types = [event.type for event in events]
    calls = [t for t in types if "code_interpreter" in t]
    assert calls[:5] == [
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ]
    assert types[0] == "response.created" and types[-1] in (
        "response.completed",
        "response.incomplete",
    )
    code = [e for e in events if e.type == "response.code_interpreter_call_code.done"]
    assert code[0].code == "print(6 * 7)"  # type: ignore[union-attr]
    assert [e.sequence_number for e in events] == list(range(len(events)))


async def test_auto_container_gets_the_files_and_is_reused(client: openai.AsyncOpenAI) -> None:
    upload = await client.files.create(file=("data.csv", b"x,y\n1,2\n"), purpose="user_data")
    auto: Any = {"type": "auto", "file_ids": [upload.id]}
    response = await client.responses.create(
        model=MODEL,
        input=ask("cntr_example", "import os; print(os.listdir())"),
        tools=[{"type": "code_interpreter", "container": auto}],
        tool_choice=FORCE,
        include=["code_interpreter_call.outputs"],
        max_output_tokens=300,
        temperature=0,
    )
    call = response.output[0]
    assert call.type == "code_interpreter_call" and call.container_id.startswith("cntr_")
    # the model drops the import (NameError) or not: the code ran in the new container
    assert call.status == "completed" and call.outputs and call.outputs[0].type == "logs"
    files = [f async for f in client.containers.files.list(call.container_id)]
    assert [f.path for f in files] == ["/mnt/data/data.csv"]
    content = await client.containers.files.content.retrieve(
        files[0].id, container_id=call.container_id
    )
    assert content.read() == b"x,y\n1,2\n"
    # the next turn's auto container (no file_ids) is the one still running
    follow = await client.responses.create(
        model=MODEL,
        input="Run: print(os.listdir())",
        previous_response_id=response.id,
        tools=[{"type": "code_interpreter", "container": {"type": "auto"}}],
        tool_choice=FORCE,
        max_output_tokens=300,
        temperature=0,
    )
    assert follow.output[0].type == "code_interpreter_call"
    assert follow.output[0].container_id == call.container_id


async def test_bad_code_interpreter_requests_are_clear(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await client.responses.create(
            model=MODEL,
            input="hi",
            tools=[{"type": "code_interpreter", "container": "cntr_missing"}],
        )
    assert missing.value.body["param"] == "tools[0].container"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as unforced:
        await client.responses.create(model=MODEL, input="hi", tool_choice=FORCE)
    assert unforced.value.body["param"] == "tool_choice"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as networked:
        await client.responses.create(
            model=MODEL,
            input="hi",
            tools=[
                {
                    "type": "code_interpreter",
                    "container": {
                        "type": "auto",
                        "network_policy": {"type": "allowlist", "allowed_domains": ["a.com"]},
                    },
                }
            ],
        )
    assert networked.value.body["param"] == "tools[0].container"  # type: ignore[index]
