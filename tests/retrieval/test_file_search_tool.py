"""The Responses ``file_search`` tool over real vector stores (SQLite and PostgreSQL): the
model's queries run through the one hybrid search, results come back when included, and
the answer cites the files it was written from."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.conftest import MODEL
from tests.retrieval.conftest import FIXTURES

pytestmark = pytest.mark.anyio


async def _store(vs: openai.AsyncOpenAI) -> tuple[str, str]:
    store = await vs.vector_stores.create(name="logbook")
    done = await vs.vector_stores.files.upload_and_poll(
        vector_store_id=store.id,
        file=("lighthouse.md", (FIXTURES / "lighthouse.md").read_bytes()),
        attributes={"kind": "logbook"},
        poll_interval_ms=50,
    )
    assert done.status == "completed"
    return store.id, done.id


async def test_file_search_answers_with_citations(vs: openai.AsyncOpenAI) -> None:
    store_id, file_id = await _store(vs)
    tool: Any = {
        "type": "file_search",
        "vector_store_ids": [store_id],
        "max_num_results": 3,
        "filters": {"type": "eq", "key": "kind", "value": "logbook"},
    }
    response = await vs.responses.create(
        model=MODEL,
        input="Where does the Hearthstone Lighthouse stand?",
        tools=[tool],
        tool_choice="required",
        include=["file_search_call.results"],
        max_tool_calls=1,
        max_output_tokens=300,
        temperature=0,
    )
    call: Any = response.output[0]
    assert call.type == "file_search_call" and call.status == "completed"
    assert call.queries and all(q.strip() for q in call.queries)
    assert call.results and len(call.results) <= 3
    assert {r.file_id for r in call.results} == {file_id}
    assert all(r.filename == "lighthouse.md" and r.text and 0 < r.score <= 1 for r in call.results)
    message: Any = response.output[-1]
    assert message.type == "message"
    annotations = message.content[0].annotations
    assert [(a.type, a.file_id, a.filename) for a in annotations] == [
        ("file_citation", file_id, "lighthouse.md")
    ]
    assert annotations[0].index == len(message.content[0].text)
    # without include the results stay on the server, and the stored response agrees
    stored = await vs.responses.retrieve(response.id)
    stored_call: Any = stored.output[0]
    assert stored_call.results is None
    again = await vs.responses.retrieve(response.id, include=["file_search_call.results"])
    assert again.output[0].results == call.results  # type: ignore[union-attr]


async def test_file_search_stream_events(vs: openai.AsyncOpenAI) -> None:
    store_id, _ = await _store(vs)
    async with vs.responses.stream(
        model=MODEL,
        input="Who kept the lighthouse?",
        tools=[{"type": "file_search", "vector_store_ids": [store_id]}],
        tool_choice={"type": "file_search"},
        max_tool_calls=1,
        max_output_tokens=300,
        temperature=0,
    ) as stream:
        types = [event.type async for event in stream]
    searching = [
        "response.output_item.added",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
        "response.output_item.done",
    ]
    start = types.index("response.file_search_call.in_progress") - 1
    assert types[start : start + 5] == searching
    if "response.output_text.done" in types:
        assert "response.output_text.annotation.added" in types
        assert types.index("response.output_text.annotation.added") < types.index(
            "response.output_text.done"
        )


async def test_file_search_needs_the_projects_own_store(vs: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        await vs.responses.create(
            model=MODEL,
            input="Hi",
            tools=[{"type": "file_search", "vector_store_ids": ["vs_missing"]}],
        )
    assert info.value.body["param"] == "tools.file_search.vector_store_ids[0]"  # type: ignore[index]
