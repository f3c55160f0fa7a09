"""Stored chat completions through the SDK (``store=True``, list / retrieve / update /
delete / messages), in-process, on the real bundled model.

The test session shares one database, so every test tags its completions with its own
``metadata["run"]`` and lists through that filter.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx2
import openai
import pytest
from fastapi import FastAPI

from hearth.domain import Principal
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.container import Services
from tests.conftest import API_KEY, MODEL, NO_EOG, new_project

pytestmark = pytest.mark.anyio
USER = [{"role": "user", "content": "Name a colour."}]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 12}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
]


@pytest.fixture(autouse=True)
def wired(services: Services) -> None:
    """The chat service stores through the app's ``StoredCompletions``."""
    if services.chat.stored is None:
        services.chat.stored = services.stored_completions


@pytest.fixture
def run() -> str:
    return uuid.uuid4().hex


async def stored(
    client: openai.AsyncOpenAI, run: str, *, messages: list[Any] = USER, **kw: Any
) -> Any:
    kw = {
        "max_completion_tokens": 2,
        "temperature": 0,
        "store": True,
        "metadata": {"run": run},
        **kw,
    }
    return await client.chat.completions.create(model=MODEL, messages=messages, **kw)


async def ids(page: Any) -> list[str]:
    return [c.id async for c in page]


async def test_store_with_metadata_then_retrieve(client: openai.AsyncOpenAI, run: str) -> None:
    out = await stored(
        client,
        run,
        metadata={"run": run, "task": "colours"},
        messages=[{"role": "system", "content": "Be brief."}, *USER],
        user="tester",
        seed=5,
        logit_bias=NO_EOG,
    )
    got = await client.chat.completions.retrieve(out.id)
    assert got.id == out.id and got.object == "chat.completion" and got.model == MODEL
    assert got.created == out.created and got.system_fingerprint == out.system_fingerprint
    assert got.choices == out.choices and got.usage == out.usage
    assert got.metadata == {"run": run, "task": "colours"}
    assert got.service_tier == "default"
    extra = got.model_extra or {}
    assert extra["temperature"] == 0 and extra["top_p"] == 1.0 and extra["seed"] == 5
    assert extra["input_user"] == "tester" and extra["tools"] is None
    assert "request_id" in extra and "response_format" in extra


async def test_streamed_completion_is_stored_assembled(
    client: openai.AsyncOpenAI, run: str
) -> None:
    stream = await stored(
        client, run, stream=True, max_completion_tokens=4, logit_bias=NO_EOG, logprobs=True
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    got = await client.chat.completions.retrieve(chunks[0].id)
    choice = got.choices[0]
    assert choice.message.content == text and choice.finish_reason == "length"
    assert choice.logprobs and len(choice.logprobs.content or []) == 4
    assert got.usage and got.usage.completion_tokens == 4  # stored without include_usage


async def test_streamed_tool_calls_are_stored_with_their_ids(
    client: openai.AsyncOpenAI, run: str
) -> None:
    stream = await stored(
        client,
        run,
        stream=True,
        max_completion_tokens=40,
        tools=TOOLS,
        tool_choice="required",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    chunks = [c async for c in stream]
    calls = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    got = await client.chat.completions.retrieve(chunks[0].id)
    message = got.choices[0].message
    assert got.choices[0].finish_reason == "tool_calls" and message.content is None
    assert message.tool_calls and message.tool_calls[0].id == calls[0].id
    assert message.tool_calls[0].function.arguments == "".join(
        c.function.arguments or "" for c in calls if c.function
    )
    assert (got.model_extra or {})["tool_choice"] == "required"


async def test_not_stored_without_store(client: openai.AsyncOpenAI, run: str) -> None:
    plain = await stored(client, run, store=None)
    off = await stored(client, run, store=False)
    for out in (plain, off):
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.retrieve(out.id)
    assert await ids(client.chat.completions.list(metadata={"run": run})) == []


async def test_list_filters_by_model_and_metadata(client: openai.AsyncOpenAI, run: str) -> None:
    a = await stored(client, run, metadata={"run": run, "group": "a"})
    b = await stored(client, run, metadata={"run": run, "group": "b"})
    c = await stored(client, run, metadata={"run": run, "group": "a", "x": "y"})
    listed = client.chat.completions.list
    assert await ids(listed(metadata={"run": run})) == [a.id, b.id, c.id]
    assert await ids(listed(metadata={"run": run, "group": "a"})) == [a.id, c.id]
    assert await ids(listed(metadata={"run": run, "group": "a", "x": "y"})) == [c.id]
    assert await ids(listed(metadata={"run": run, "group": "z"})) == []
    assert await ids(listed(model=MODEL, metadata={"run": run})) == [a.id, b.id, c.id]
    assert await ids(listed(model="other-model", metadata={"run": run})) == []
    page = await listed(metadata={"run": run, "group": "b"})
    assert page.data[0].metadata == {"run": run, "group": "b"}
    assert page.data[0].choices == b.choices


async def test_pagination_across_pages_in_both_orders(client: openai.AsyncOpenAI, run: str) -> None:
    made = [(await stored(client, run, max_completion_tokens=1)).id for _ in range(5)]
    listed = client.chat.completions.list
    first = await listed(metadata={"run": run}, limit=2)
    assert [c.id for c in first.data] == made[:2] and first.has_more
    assert await ids(listed(metadata={"run": run}, limit=2)) == made
    assert await ids(listed(metadata={"run": run}, limit=2, order="desc")) == made[::-1]
    assert await ids(listed(metadata={"run": run}, after=made[1], limit=100)) == made[2:]
    before = await listed(metadata={"run": run}, limit=2, extra_query={"before": made[3]})
    assert [c.id for c in before.data] == made[1:3] and before.has_more
    with pytest.raises(openai.BadRequestError) as err:
        await listed(metadata={"run": run}, limit=101)
    assert err.value.param == "limit"


async def test_update_replaces_metadata(client: openai.AsyncOpenAI, run: str) -> None:
    out = await stored(client, run, metadata={"run": run, "old": "1"})
    new = {"run": run, "new": "2"}
    updated = await client.chat.completions.update(out.id, metadata=new)
    assert updated.id == out.id and updated.metadata == new
    assert updated.choices == out.choices
    assert (await client.chat.completions.retrieve(out.id)).metadata == new
    listed = client.chat.completions.list
    assert await ids(listed(metadata={"run": run, "old": "1"})) == []
    assert await ids(listed(metadata={"run": run, "new": "2"})) == [out.id]
    cleared = await client.chat.completions.update(out.id, metadata=None)
    assert cleared.metadata == {}
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.update(out.id, metadata={"k": 1})  # type: ignore[dict-item]
    assert err.value.param == "metadata"


async def test_delete_then_404(client: openai.AsyncOpenAI, run: str) -> None:
    out = await stored(client, run)
    deleted = await client.chat.completions.delete(out.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (
        out.id,
        "chat.completion.deleted",
        True,
    )
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.retrieve(out.id)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.delete(out.id)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.messages.list(out.id)
    assert await ids(client.chat.completions.list(metadata={"run": run})) == []


async def test_messages_list_with_pagination(client: openai.AsyncOpenAI, run: str) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi."},
        {"role": "assistant", "content": "Hello!"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Name "}, {"type": "text", "text": "a colour."}],
        },
        {"role": "user", "content": "Just one.", "name": "ana"},
    ]
    out = await stored(client, run, messages=messages)
    page = client.chat.completions.messages.list
    items = [m async for m in page(out.id, limit=2)]
    assert [m.id for m in items] == [f"{out.id}-{i}" for i in range(5)]
    assert [m.role for m in items] == ["system", "user", "assistant", "user", "user"]
    assert items[2].content == "Hello!" and items[2].content_parts is None
    assert items[3].content == "Name a colour."
    parts = [p.model_dump(exclude_unset=True) for p in items[3].content_parts or []]
    assert parts == messages[3]["content"]
    assert (items[4].model_extra or {})["name"] == "ana"
    first = await page(out.id, limit=2)
    assert first.has_more and [m.id for m in first.data] == [items[0].id, items[1].id]
    assert [m.id async for m in page(out.id, limit=2, order="desc")] == [m.id for m in items[::-1]]
    before = await page(out.id, limit=2, extra_query={"before": items[3].id})
    assert [m.id for m in before.data] == [items[1].id, items[2].id] and before.has_more
    with pytest.raises(openai.BadRequestError) as err:
        await page(out.id, after=f"{out.id}-9")
    assert err.value.param == "after"


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(17)},
        {"k" * 65: "v"},
        {"k": "v" * 513},
        {"k": 1},
    ],
)
async def test_metadata_validation(
    client: openai.AsyncOpenAI, run: str, metadata: dict[str, Any]
) -> None:
    for store in (True, False):
        with pytest.raises(openai.BadRequestError) as err:
            await stored(client, run, metadata=metadata, store=store)
        assert err.value.param == "metadata" and "metadata" in err.value.message
    assert await stored(client, run, metadata={f"k{i}": "v" * 512 for i in range(16)})


async def test_project_isolation(
    services: Services, app: FastAPI, client: openai.AsyncOpenAI, run: str
) -> None:
    key = new_project(services, "Other project")[1]
    async with (
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://hearth.test"
        ) as http,
        openai.AsyncOpenAI(
            base_url="http://hearth.test/v1", api_key=key, http_client=http, max_retries=0
        ) as other,
    ):
        mine = await stored(client, run)
        theirs = await stored(other, run)
        for call in (
            other.chat.completions.retrieve,
            other.chat.completions.delete,
            other.chat.completions.messages.list,
        ):
            with pytest.raises(openai.NotFoundError):
                await call(mine.id)
        with pytest.raises(openai.NotFoundError):
            await other.chat.completions.update(mine.id, metadata={"run": "stolen"})
        assert await ids(other.chat.completions.list(metadata={"run": run})) == [theirs.id]
        with pytest.raises(openai.BadRequestError):  # a cursor cannot name another's row
            await other.chat.completions.list(after=mine.id)
    assert await ids(client.chat.completions.list(metadata={"run": run})) == [mine.id]
    assert (await client.chat.completions.retrieve(mine.id)).metadata == {"run": run}


async def test_storage_failure_still_answers_and_is_logged(
    services: Services, caplog: pytest.LogCaptureFixture, run: str
) -> None:
    # a project that no longer exists: the row's foreign key fails on insert
    gone = Principal.for_project("org-any", "proj-deleted")
    params = ChatCompletionParams.model_validate(
        {
            "model": MODEL,
            "messages": USER,
            "max_completion_tokens": 1,
            "store": True,
            "metadata": {"run": run},
        }
    )
    with caplog.at_level(logging.ERROR, "hearth.services.chat.completions"):
        out = await services.chat.create(gone, params)
    assert out.choices and out.usage
    assert any(out.id in r.getMessage() for r in caplog.records)
    assert await services.stored_completions.select(gone) == []


async def test_select_for_evals(client: openai.AsyncOpenAI, services: Services, run: str) -> None:
    made = [await stored(client, run, metadata={"run": run, "i": str(i)}) for i in range(3)]
    caller = services.api_keys.verify(API_KEY)
    assert caller is not None
    select = services.stored_completions.select
    rows = await select(caller, metadata={"run": run}, model=MODEL)
    assert [r["id"] for r in rows] == [m.id for m in made]
    assert rows[1]["metadata"] == {"run": run, "i": "1"} and rows[1]["model"] == MODEL
    assert rows[1]["request"]["messages"] == USER
    assert rows[1]["response"]["choices"][0]["message"]["content"] == (
        made[1].choices[0].message.content
    )
    assert [r["id"] for r in await select(caller, metadata={"run": run}, limit=2)] == [
        m.id for m in made[1:]
    ]
    assert await select(caller, metadata={"run": run}, created_before=made[0].created - 1) == []
    assert len(await select(caller, metadata={"run": run}, created_after=made[0].created)) == 3
    assert await select(caller, metadata={"run": run}, model="other-model") == []
