"""client.beta.assistants, client.beta.threads and client.beta.threads.messages through
the SDK: defaults, paging and order, update semantics, tool resources (a vector store
made from files, code interpreter files), attachments landing in the thread's vector
store and code interpreter files, project isolation, refused requests, and what runs
use (``Threads.add_message`` / ``update_message`` / ``messages_for_run``, the
``run_id`` filter, the cascade of a deleted thread)."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import openai
import pytest
from openai.types.beta.threads import Message
from sqlalchemy import func, select

from hearth.domain import Principal
from hearth.services.container import Services
from hearth.store.db import session_factory
from hearth.store.models import Run, RunStep, ThreadMessage
from tests.conftest import MODEL, new_project, sdk

pytestmark = [
    pytest.mark.anyio,
    # the SDK marks the Assistants API deprecated (its methods warn on every call)
    pytest.mark.filterwarnings(
        "ignore:(deprecated|The Assistants API is deprecated):DeprecationWarning"
    ),
]

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


class Project:
    """A new, empty project: its SDK client and its caller (for service calls)."""

    def __init__(self, client: openai.AsyncOpenAI, caller: Principal) -> None:
        self.client = client
        self.caller = caller


@pytest.fixture
async def project(services: Services, http: httpx2.AsyncClient) -> Project:
    key = new_project(services)[1]
    # not closed: closing the SDK closes the shared ``http`` client
    return Project(sdk(http, key), await services.auth.authenticate(key))


async def _file(client: openai.AsyncOpenAI, name: str, text: str = "The foghorn is 212 Hz.") -> str:
    return (await client.files.create(file=(name, text.encode()), purpose="assistants")).id


async def _store_files(client: openai.AsyncOpenAI, store_id: str) -> set[str]:
    return {f.id async for f in client.vector_stores.files.list(store_id)}


# --- assistants -------------------------------------------------------------------------


async def test_assistant_defaults_retrieve_list_and_delete(
    project: Project, http: httpx2.AsyncClient
) -> None:
    client = project.client
    bare = await client.beta.assistants.create(model=MODEL)
    assert bare.id.startswith("asst_") and abs(bare.created_at - time.time()) < 10
    raw = await http.get(
        f"/v1/assistants/{bare.id}",
        headers={"Authorization": f"Bearer {client.api_key}", "OpenAI-Beta": "assistants=v2"},
    )
    assert raw.json() == {
        "id": bare.id,
        "object": "assistant",
        "created_at": bare.created_at,
        "name": None,
        "description": None,
        "model": MODEL,
        "instructions": None,
        "tools": [],
        "tool_resources": {},
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "response_format": "auto",
    }
    full = await client.beta.assistants.create(
        model=MODEL,
        name="Weather",
        description="Answers about the weather.",
        instructions="Be brief.",
        tools=[
            {"type": "code_interpreter"},
            {
                "type": "file_search",
                "file_search": {
                    "max_num_results": 5,
                    "ranking_options": {"ranker": "auto", "score_threshold": 0.5},
                },
            },
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": SCHEMA, "strict": True},
            },
        ],
        metadata={"team": "ops"},
        temperature=0.2,
        top_p=0.9,
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": SCHEMA}},
        reasoning_effort="low",
    )
    assert (full.name, full.description, full.instructions) == (
        "Weather",
        "Answers about the weather.",
        "Be brief.",
    )
    assert [t.type for t in full.tools] == ["code_interpreter", "file_search", "function"]
    assert full.tools[1].file_search.max_num_results == 5  # type: ignore[union-attr]
    assert full.tools[2].function.parameters == SCHEMA  # type: ignore[union-attr]
    assert (full.temperature, full.top_p, full.metadata) == (0.2, 0.9, {"team": "ops"})
    assert full.response_format.json_schema.schema_ == SCHEMA  # type: ignore[union-attr]
    assert (await client.beta.assistants.retrieve(full.id)).model_dump() == full.model_dump()
    third = await client.beta.assistants.create(model=MODEL, name="third")

    newest_first = [a.id async for a in client.beta.assistants.list()]
    assert newest_first == [third.id, full.id, bare.id]
    assert [a.id async for a in client.beta.assistants.list(order="asc")] == newest_first[::-1]
    page = await client.beta.assistants.list(limit=2)
    assert [a.id for a in page.data] == [third.id, full.id] and page.has_more
    rest = await client.beta.assistants.list(limit=2, after=full.id)
    assert [a.id for a in rest.data] == [bare.id] and not rest.has_more
    before = await client.beta.assistants.list(before=bare.id, limit=1)
    assert [a.id for a in before.data] == [full.id]

    deleted = await client.beta.assistants.delete(full.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (full.id, "assistant.deleted", True)
    with pytest.raises(openai.NotFoundError) as info:
        await client.beta.assistants.retrieve(full.id)
    assert info.value.body["param"] == "assistant_id"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        await client.beta.assistants.delete(full.id)
    with pytest.raises(openai.NotFoundError):
        await client.beta.assistants.update(full.id, name="x")
    assert [a.id async for a in client.beta.assistants.list()] == [third.id, bare.id]


async def test_assistant_update_replaces_only_what_is_sent(project: Project) -> None:
    client = project.client
    code = await _file(client, "data.csv", "a,b\n1,2\n")
    made = await client.beta.assistants.create(
        model=MODEL,
        name="A",
        instructions="old",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [code]}},
        metadata={"a": "1"},
        temperature=0.5,
    )
    renamed = await client.beta.assistants.update(made.id, name="B", metadata={"b": "2"})
    assert (renamed.name, renamed.instructions, renamed.metadata) == ("B", "old", {"b": "2"})
    assert [t.type for t in renamed.tools] == ["code_interpreter"]
    assert renamed.temperature == 0.5 and renamed.model == MODEL

    store = await client.vector_stores.create(name="kb")
    moved = await client.beta.assistants.update(
        made.id,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        temperature=None,
        instructions=None,
        response_format={"type": "json_object"},
    )
    assert [t.type for t in moved.tools] == ["file_search"]
    assert moved.tool_resources is not None
    assert moved.tool_resources.file_search.vector_store_ids == [store.id]  # type: ignore[union-attr]
    # a tool not sent keeps its resources
    assert moved.tool_resources.code_interpreter.file_ids == [code]  # type: ignore[union-attr]
    assert (moved.temperature, moved.instructions) == (1.0, None)
    assert moved.response_format.type == "json_object"  # type: ignore[union-attr]
    again = await client.beta.assistants.retrieve(made.id)
    assert again.model_dump() == moved.model_dump()
    cleared = await client.beta.assistants.update(
        made.id, tool_resources=None, response_format=None
    )
    assert (
        cleared.tool_resources is not None
        and cleared.tool_resources.model_dump(exclude_none=True) == {}
    )
    assert cleared.response_format == "auto"
    with pytest.raises(openai.NotFoundError) as info:
        await client.beta.assistants.update(made.id, model="no-such-model")
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert (await client.beta.assistants.retrieve(made.id)).model == MODEL


async def test_assistant_tool_resources_make_a_vector_store_from_files(
    project: Project, services: Services
) -> None:
    client = project.client
    one, two, code = (
        await _file(client, "one.md"),
        await _file(client, "two.md"),
        await _file(client, "x.py"),
    )
    made = await client.beta.assistants.create(
        model=MODEL,
        tools=[{"type": "file_search"}, {"type": "code_interpreter"}],
        tool_resources={
            "file_search": {
                "vector_stores": [
                    {
                        "file_ids": [one, two],
                        "chunking_strategy": {"type": "auto"},
                        "metadata": {"for": "assistant"},
                    }
                ]
            },
            "code_interpreter": {"file_ids": [code, code]},
        },
    )
    resources = made.tool_resources
    assert resources is not None and resources.file_search is not None
    assert resources.code_interpreter is not None
    assert resources.code_interpreter.file_ids == [code]
    (store_id,) = resources.file_search.vector_store_ids or []
    store = await client.vector_stores.retrieve(store_id)
    assert store.metadata == {"for": "assistant"}
    assert await _store_files(client, store_id) == {one, two}
    got = await services.assistants.get(project.caller, made.id)
    assert got.model_dump() == made.model_dump()


async def test_assistant_refusals_store_nothing(project: Project, http: httpx2.AsyncClient) -> None:
    client = project.client
    refused: list[tuple[dict[str, Any], type[openai.APIStatusError], str | None]] = [
        ({"model": "no-such-model"}, openai.NotFoundError, "model"),
        ({"model": MODEL, "tools": [{"type": "web_search"}]}, openai.BadRequestError, "tools[0]"),
        (
            {"model": MODEL, "tools": [{"type": "function", "function": {"name": "bad name"}}]},
            openai.BadRequestError,
            "tools[0].function.name",
        ),
        (
            {
                "model": MODEL,
                "tools": [
                    {"type": "code_interpreter"},
                    {"type": "function", "function": {"name": "f", "parameters": {"type": 5}}},
                ],
            },
            openai.BadRequestError,
            "tools[1].function.parameters",
        ),
        (
            {"model": MODEL, "tools": [{"type": "code_interpreter"}] * 129},
            openai.BadRequestError,
            "tools",
        ),
        ({"model": MODEL, "temperature": 2.5}, openai.BadRequestError, "temperature"),
        ({"model": MODEL, "response_format": "json"}, openai.BadRequestError, "response_format"),
        (
            {
                "model": MODEL,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "s", "schema": {"type": "nope"}},
                },
            },
            openai.BadRequestError,
            "response_format.json_schema.schema",
        ),
        (
            {"model": MODEL, "tool_resources": {"code_interpreter": {"file_ids": ["f"] * 21}}},
            openai.BadRequestError,
            "tool_resources.code_interpreter.file_ids",
        ),
        (
            {"model": MODEL, "tool_resources": {"code_interpreter": {"file_ids": ["file-nope"]}}},
            openai.NotFoundError,
            "tool_resources.code_interpreter.file_ids[0]",
        ),
        (
            {"model": MODEL, "tool_resources": {"file_search": {"vector_store_ids": ["vs_nope"]}}},
            openai.NotFoundError,
            "tool_resources.file_search.vector_store_ids[0]",
        ),
        (
            {
                "model": MODEL,
                "tool_resources": {"file_search": {"vector_stores": [{"file_ids": ["file-x"]}]}},
            },
            openai.NotFoundError,
            "tool_resources.file_search.vector_stores[0].file_ids[0]",
        ),
        (
            {"model": MODEL, "tool_resources": {"file_search": {"vector_store_ids": ["a", "b"]}}},
            openai.BadRequestError,
            "tool_resources.file_search.vector_store_ids",
        ),
        ({"model": MODEL, "extra_body": {"colour": "red"}}, openai.BadRequestError, "colour"),
    ]
    for body, error, param in refused:
        with pytest.raises(error) as info:
            await client.beta.assistants.create(**body)
        assert info.value.body["param"] == param, body  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as info:
        await client.beta.assistants.create(model="no-such-model")
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]
    auth = {"Authorization": f"Bearer {client.api_key}"}
    assert (await http.post("/v1/assistants", headers=auth, json={})).status_code == 400
    assert [a async for a in client.beta.assistants.list()] == []
    assert [s async for s in client.vector_stores.list()] == []


# --- threads ----------------------------------------------------------------------------


async def test_thread_create_retrieve_update_and_delete(
    project: Project, services: Services, http: httpx2.AsyncClient
) -> None:
    client = project.client
    empty = await client.beta.threads.create()
    assert empty.id.startswith("thread_")
    raw = await http.get(
        f"/v1/threads/{empty.id}", headers={"Authorization": f"Bearer {client.api_key}"}
    )
    assert raw.json() == {
        "id": empty.id,
        "object": "thread",
        "created_at": empty.created_at,
        "metadata": {},
        "tool_resources": {},
    }
    code = await _file(client, "data.csv", "a\n1\n")
    thread = await client.beta.threads.create(
        messages=[
            {"role": "user", "content": "Hello", "metadata": {"n": "1"}},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi!"}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "two"}, {"type": "text", "text": "parts"}],
            },
        ],
        tool_resources={"code_interpreter": {"file_ids": [code]}},
        metadata={"user": "u1"},
    )
    assert thread.metadata == {"user": "u1"}
    assert thread.tool_resources.code_interpreter.file_ids == [code]  # type: ignore[union-attr]
    messages = [m async for m in client.beta.threads.messages.list(thread.id, order="asc")]
    assert [(m.role, [c.text.value for c in m.content]) for m in messages] == [  # type: ignore[union-attr]
        ("user", ["Hello"]),
        ("assistant", ["Hi!"]),
        ("user", ["two", "parts"]),
    ]
    first = messages[0]
    assert (first.status, first.thread_id, first.assistant_id, first.run_id) == (
        "completed",
        thread.id,
        None,
        None,
    )
    assert first.metadata == {"n": "1"} and first.attachments == []

    updated = await client.beta.threads.update(thread.id, metadata={"user": "u2"})
    assert updated.metadata == {"user": "u2"}
    assert updated.tool_resources.code_interpreter.file_ids == [code]  # type: ignore[union-attr]
    assert (await client.beta.threads.retrieve(thread.id)).model_dump() == updated.model_dump()
    store = await client.vector_stores.create(name="kb")
    both = await client.beta.threads.update(
        thread.id, tool_resources={"file_search": {"vector_store_ids": [store.id]}}
    )
    assert both.tool_resources.file_search.vector_store_ids == [store.id]  # type: ignore[union-attr]
    assert both.tool_resources.code_interpreter.file_ids == [code]  # type: ignore[union-attr]
    assert (await client.beta.threads.update(thread.id, metadata={})).metadata == {}

    deleted = await client.beta.threads.delete(thread.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (thread.id, "thread.deleted", True)
    for call in (
        client.beta.threads.retrieve(thread.id),
        client.beta.threads.delete(thread.id),
        client.beta.threads.update(thread.id, metadata={}),
        client.beta.threads.messages.list(thread.id),
        client.beta.threads.messages.retrieve(first.id, thread_id=thread.id),
        client.beta.threads.messages.create(thread.id, role="user", content="x"),
    ):
        with pytest.raises(openai.NotFoundError):
            await call
    with session_factory(services.db)() as s:
        left = s.scalar(select(func.count()).where(ThreadMessage.thread_id == thread.id))
    assert left == 0


async def test_deleting_a_thread_deletes_its_messages_runs_and_steps(
    project: Project, services: Services
) -> None:
    client = project.client
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    sessions = session_factory(services.db)
    with sessions.begin() as s:  # the rows the runs service writes
        s.add(
            Run(
                id="run_cascade",
                thread_id=thread.id,
                project_id=project.caller.project_id,
                organization_id=project.caller.organization_id,
                assistant_id="asst_x",
                status="completed",
                object={},
                request={},
                items=[],
                created_at=1,
                seq=1,
            )
        )
        s.flush()
        s.add(
            RunStep(
                id="step_cascade",
                run_id="run_cascade",
                thread_id=thread.id,
                project_id=project.caller.project_id,
                object={},
                created_at=1,
                seq=1,
            )
        )
    await client.beta.threads.delete(thread.id)
    with sessions() as s:
        assert s.get(Run, "run_cascade") is None
        assert s.get(RunStep, "step_cascade") is None
        assert s.scalar(select(func.count()).where(ThreadMessage.thread_id == thread.id)) == 0


async def test_thread_refusals_store_nothing(project: Project) -> None:
    client = project.client
    too_many = [{"role": "user", "content": str(i)} for i in range(33)]
    refused: list[tuple[dict[str, Any], type[openai.APIStatusError], str | None]] = [
        ({"messages": too_many}, openai.BadRequestError, "messages"),
        (
            {"messages": [{"role": "system", "content": "x"}]},
            openai.BadRequestError,
            "messages[0].role",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "ok"},
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    },
                ]
            },
            openai.BadRequestError,
            "messages[1].content[0].type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": "x",
                        "attachments": [
                            {"file_id": "file-nope", "tools": [{"type": "file_search"}]}
                        ],
                    }
                ]
            },
            openai.NotFoundError,
            "messages[0].attachments[0].file_id",
        ),
        (
            {"tool_resources": {"file_search": {"vector_store_ids": ["vs_nope"]}}},
            openai.NotFoundError,
            "tool_resources.file_search.vector_store_ids[0]",
        ),
    ]
    for body, error, param in refused:
        with pytest.raises(error) as info:
            await client.beta.threads.create(**body)
        assert info.value.body["param"] == param, body  # type: ignore[index]


# --- messages ---------------------------------------------------------------------------


async def test_messages_paging_update_delete_and_run_filter(
    project: Project, services: Services, http: httpx2.AsyncClient
) -> None:
    client = project.client
    thread = await client.beta.threads.create()
    made = [
        await client.beta.threads.messages.create(thread.id, role="user", content=f"m{i}")
        for i in range(3)
    ]
    raw = await http.get(
        f"/v1/threads/{thread.id}/messages/{made[0].id}",
        headers={"Authorization": f"Bearer {client.api_key}"},
    )
    assert raw.json() == {
        "id": made[0].id,
        "object": "thread.message",
        "created_at": made[0].created_at,
        "thread_id": thread.id,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": made[0].created_at,
        "incomplete_at": None,
        "role": "user",
        "content": [{"type": "text", "text": {"value": "m0", "annotations": []}}],
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
    }
    ids = [m.id for m in made]
    assert [m.id async for m in client.beta.threads.messages.list(thread.id)] == ids[::-1]
    asc = client.beta.threads.messages.list(thread.id, order="asc")
    assert [m.id async for m in asc] == ids
    page = await client.beta.threads.messages.list(thread.id, limit=2, order="asc")
    assert [m.id for m in page.data] == ids[:2] and page.has_more
    rest = await client.beta.threads.messages.list(thread.id, order="asc", after=ids[1])
    assert [m.id for m in rest.data] == ids[2:] and not rest.has_more

    tagged = await client.beta.threads.messages.update(
        ids[1], thread_id=thread.id, metadata={"k": "v"}
    )
    assert tagged.metadata == {"k": "v"} and tagged.content == made[1].content
    got = await client.beta.threads.messages.retrieve(ids[1], thread_id=thread.id)
    assert got.model_dump() == tagged.model_dump()
    gone = await client.beta.threads.messages.delete(ids[0], thread_id=thread.id)
    assert (gone.id, gone.object, gone.deleted) == (ids[0], "thread.message.deleted", True)
    with pytest.raises(openai.NotFoundError) as info:
        await client.beta.threads.messages.retrieve(ids[0], thread_id=thread.id)
    assert info.value.body["param"] == "message_id"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.messages.delete(ids[0], thread_id=thread.id)

    # what a run does: add its answer, then complete it
    threads, now = services.threads, int(time.time())
    answer = Message(
        id="msg_run_answer",
        object="thread.message",
        created_at=now,
        thread_id=thread.id,
        status="in_progress",
        incomplete_details=None,
        completed_at=None,
        incomplete_at=None,
        role="assistant",
        content=[],
        assistant_id="asst_run",
        run_id="run_one",
        attachments=[],
        metadata={},
    )
    await threads.add_message(project.caller, thread.id, answer)
    done = Message.model_validate(
        {
            **answer.model_dump(),
            "status": "completed",
            "completed_at": now,
            "content": [{"type": "text", "text": {"value": "Hello!", "annotations": []}}],
        }
    )
    await threads.update_message(project.caller, thread.id, done)
    by_run = [m async for m in client.beta.threads.messages.list(thread.id, run_id="run_one")]
    assert [(m.id, m.status, m.run_id, m.assistant_id) for m in by_run] == [
        ("msg_run_answer", "completed", "run_one", "asst_run")
    ]
    assert [m async for m in client.beta.threads.messages.list(thread.id, run_id="run_x")] == []
    history = await threads.messages_for_run(project.caller, thread.id)
    assert [m.id for m in history] == [ids[1], ids[2], "msg_run_answer"]
    assert history[-1].content[0].text.value == "Hello!"  # type: ignore[union-attr]


async def test_image_content_is_refused(project: Project) -> None:
    client = project.client
    thread = await client.beta.threads.create()
    for part in (
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_file", "image_file": {"file_id": "file-x", "detail": "low"}},
    ):
        with pytest.raises(openai.BadRequestError) as info:
            await client.beta.threads.messages.create(
                thread.id, role="user", content=[{"type": "text", "text": "look"}, part]
            )
        assert info.value.body["param"] == "content[1].type"  # type: ignore[index]
        assert "cannot see" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.messages.create(thread.id, role="user", content=[])
    assert info.value.body["param"] == "content"  # type: ignore[index]
    assert [m async for m in client.beta.threads.messages.list(thread.id)] == []


async def test_attachments_land_in_the_threads_vector_store_and_code_files(
    project: Project,
) -> None:
    client = project.client
    a, b, c = [await _file(client, n) for n in ("a.md", "b.md", "c.csv")]
    thread = await client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "read this",
                "attachments": [{"file_id": a, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    resources = thread.tool_resources
    assert resources is not None and resources.file_search is not None
    (store_id,) = resources.file_search.vector_store_ids or []
    store = await client.vector_stores.retrieve(store_id)
    assert store.expires_after is not None and store.expires_after.days == 7
    assert await _store_files(client, store_id) == {a}

    message = await client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="and these",
        attachments=[
            {"file_id": b, "tools": [{"type": "file_search"}, {"type": "code_interpreter"}]},
            {"file_id": c, "tools": [{"type": "code_interpreter"}]},
        ],
    )
    assert [(x.file_id, [t.type for t in x.tools or []]) for x in message.attachments or []] == [
        (b, ["file_search", "code_interpreter"]),
        (c, ["code_interpreter"]),
    ]
    after = await client.beta.threads.retrieve(thread.id)
    assert after.tool_resources is not None
    assert after.tool_resources.file_search.vector_store_ids == [store_id]  # type: ignore[union-attr]
    assert after.tool_resources.code_interpreter.file_ids == [b, c]  # type: ignore[union-attr]
    assert await _store_files(client, store_id) == {a, b}

    # the same file again changes nothing; a missing one is a 404 that adds nothing
    await client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="again",
        attachments=[{"file_id": c, "tools": [{"type": "code_interpreter"}]}],
    )
    with pytest.raises(openai.NotFoundError) as info:
        await client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="x",
            attachments=[{"file_id": "file-nope", "tools": [{"type": "file_search"}]}],
        )
    assert info.value.body["param"] == "attachments[0].file_id"  # type: ignore[index]
    final = await client.beta.threads.retrieve(thread.id)
    assert final.tool_resources.code_interpreter.file_ids == [b, c]  # type: ignore[union-attr]
    assert len([m async for m in client.beta.threads.messages.list(thread.id)]) == 3

    # a thread whose store was deleted gets a new one
    await client.vector_stores.delete(store_id)
    await client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="new store",
        attachments=[{"file_id": a, "tools": [{"type": "file_search"}]}],
    )
    renewed = await client.beta.threads.retrieve(thread.id)
    (new_store,) = renewed.tool_resources.file_search.vector_store_ids or []  # type: ignore[union-attr]
    assert new_store != store_id and await _store_files(client, new_store) == {a}


async def test_code_interpreter_attachments_stop_at_20_files(project: Project) -> None:
    client = project.client
    files = [await _file(client, f"{i}.txt", str(i)) for i in range(21)]
    thread = await client.beta.threads.create(
        tool_resources={"code_interpreter": {"file_ids": files[:20]}}
    )
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="one more",
            attachments=[{"file_id": files[20], "tools": [{"type": "code_interpreter"}]}],
        )
    assert info.value.body["param"] == "attachments[0].file_id"  # type: ignore[index]
    assert [m async for m in client.beta.threads.messages.list(thread.id)] == []
    # on create, refused before the vector store it asks for is made
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.create(
            messages=[
                {
                    "role": "user",
                    "content": "x",
                    "attachments": [
                        {"file_id": files[20], "tools": [{"type": "code_interpreter"}]}
                    ],
                }
            ],
            tool_resources={
                "code_interpreter": {"file_ids": files[:20]},
                "file_search": {"vector_stores": [{"file_ids": files[:1]}]},
            },
        )
    assert info.value.body["param"] == "messages[0].attachments[0].file_id"  # type: ignore[index]
    assert [s async for s in client.vector_stores.list()] == []


# --- isolation --------------------------------------------------------------------------


async def test_another_project_sees_nothing(project: Project, fresh: openai.AsyncOpenAI) -> None:
    client = project.client
    assistant = await client.beta.assistants.create(model=MODEL, name="private")
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "secret"}])
    (message,) = [m async for m in client.beta.threads.messages.list(thread.id)]
    store = await client.vector_stores.create(name="private")
    file_id = await _file(client, "secret.md")
    for call in (
        fresh.beta.assistants.retrieve(assistant.id),
        fresh.beta.assistants.update(assistant.id, name="stolen"),
        fresh.beta.assistants.delete(assistant.id),
        fresh.beta.threads.retrieve(thread.id),
        fresh.beta.threads.update(thread.id, metadata={"x": "y"}),
        fresh.beta.threads.delete(thread.id),
        fresh.beta.threads.messages.list(thread.id),
        fresh.beta.threads.messages.create(thread.id, role="user", content="intruder"),
        fresh.beta.threads.messages.retrieve(message.id, thread_id=thread.id),
        fresh.beta.threads.messages.update(message.id, thread_id=thread.id, metadata={}),
        fresh.beta.threads.messages.delete(message.id, thread_id=thread.id),
        fresh.beta.assistants.create(
            model=MODEL, tool_resources={"file_search": {"vector_store_ids": [store.id]}}
        ),
        fresh.beta.assistants.create(
            model=MODEL, tool_resources={"code_interpreter": {"file_ids": [file_id]}}
        ),
        fresh.beta.threads.create(
            messages=[
                {
                    "role": "user",
                    "content": "x",
                    "attachments": [{"file_id": file_id, "tools": [{"type": "file_search"}]}],
                }
            ]
        ),
    ):
        with pytest.raises(openai.NotFoundError):
            await call
    assert [a async for a in fresh.beta.assistants.list()] == []
    assert (await client.beta.assistants.retrieve(assistant.id)).name == "private"
    assert len([m async for m in client.beta.threads.messages.list(thread.id)]) == 1
