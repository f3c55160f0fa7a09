"""Units of the Responses runtime: input items checked and turned into chat messages,
and a turn's events over a scripted chat stream (a fake of the chat service: the real one
is tested end to end), a thinking model's reasoning included (split by the chat service:
``tests/api/test_reasoning.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk

from hearth.domain import Principal
from hearth.errors import InvalidRequest, ServiceUnavailable
from hearth.services.responses.items import (
    check_outputs,
    compaction_content,
    compaction_summary,
    normalize,
    resolve_references,
    to_messages,
)
from hearth.services.responses.params import CreateParams
from hearth.services.responses.runtime import Setup, Turn

pytestmark = pytest.mark.anyio


def test_items_become_chat_messages() -> None:
    items = normalize(
        [
            {"role": "developer", "content": "Be terse."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sun"},
            {"type": "function_call_output", "call_id": "c2", "output": "rain"},
            {"type": "reasoning", "summary": []},
            {"type": "compaction", "encrypted_content": compaction_content("Earlier: hi")},
        ]
    )
    assert all(item["id"] for item in items)
    messages = to_messages(items, "Answer in French.")
    assert [m.role for m in messages] == [
        "system",
        "developer",
        "user",
        "assistant",
        "tool",
        "tool",
        "system",
    ]
    assert [c.id for c in messages[3].tool_calls or []] == ["c1", "c2"]  # one turn
    assert messages[-1].content == "Summary of the conversation so far:\nEarlier: hi"


def test_compaction_content_round_trips_and_refuses_others() -> None:
    assert compaction_summary(compaction_content("s")) == "s"
    assert compaction_summary("gAAAA-openai-encrypted") is None


def test_references_and_outputs_are_checked() -> None:
    known = normalize([{"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"}])
    ref = normalize([{"type": "item_reference", "id": known[0]["id"]}])
    assert resolve_references(ref, known) == known
    with pytest.raises(InvalidRequest) as info:
        resolve_references(normalize([{"type": "item_reference", "id": "fc_x"}]), known)
    assert info.value.param == "input[0]"
    check_outputs(
        known, normalize([{"type": "function_call_output", "call_id": "c1", "output": ""}])
    )
    with pytest.raises(InvalidRequest) as info:
        check_outputs(
            [], normalize([{"type": "function_call_output", "call_id": "c1", "output": ""}])
        )
    assert info.value.param == "input[0]"


def _chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
) -> Any:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [] if usage else [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return ChatCompletionChunk.model_validate(body)


USAGE = {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}


class _Chat:
    """A chat service answering every call with one scripted stream of deltas (a string
    is content) and ``usage``; ``failure``: raised after the pieces, as an engine failing
    mid-generation. ``params`` keeps the last request."""

    def __init__(
        self,
        pieces: list[str | dict[str, Any]],
        failure: Exception | None = None,
        usage: dict[str, Any] = USAGE,
    ) -> None:
        self.pieces = pieces
        self.failure = failure
        self.usage = usage
        self.params: Any = None

    async def stream(self, caller: Principal, params: Any) -> AsyncIterator[Any]:
        self.params = params

        async def chunks() -> AsyncIterator[Any]:
            for piece in self.pieces:
                yield _chunk(piece if isinstance(piece, dict) else {"content": piece})
            if self.failure is not None:
                raise self.failure
            yield _chunk(finish="stop")
            yield _chunk(usage=self.usage)

        return chunks()


def _setup(body: dict[str, Any] | None = None) -> Setup:
    return Setup(
        caller=Principal.for_project("org", "proj"),
        params=CreateParams.model_validate({"model": "m", "input": "2+2?", **(body or {})}),
        response_id="resp_1",
        created_at=1,
        model="m",
        context=[],
        input_items=normalize("2+2?"),
        functions=[],
        file_search=None,
    )


async def test_a_failure_mid_way_ends_in_error_and_failed() -> None:
    chat: Any = _Chat(["Fo"], failure=ServiceUnavailable("The engine is stopping."))
    turn = Turn(_setup(), chat)
    await turn.begin()
    events = [event async for event in turn.events()]
    assert [e.type for e in events][-2:] == ["error", "response.failed"]
    final = turn.final
    assert final is not None and final.status == "failed" and final.error is not None
    assert final.error.message == "The engine is stopping."
    crash: Any = _Chat([], failure=RuntimeError("bug"))
    turn = Turn(_setup(), crash)
    await turn.begin()
    _ = [event async for event in turn.events()]
    assert turn.final is not None and turn.final.status == "failed"
    assert turn.final.error is not None and turn.final.error.code == "server_error"


async def test_a_thinking_models_turn_has_a_reasoning_item() -> None:
    setup = _setup({"reasoning": {"effort": "low"}})
    chat: Any = _Chat(
        [{"reasoning_content": "Two plus"}, {"reasoning_content": " two."}, "Four."],
        usage={**USAGE, "completion_tokens_details": {"reasoning_tokens": 3}},
    )
    turn = Turn(setup, chat)
    await turn.begin()
    assert chat.params.reasoning_effort == "low"
    events = [event async for event in turn.events()]
    types = [e.type for e in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = turn.final
    assert final is not None and final.status == "completed"
    reasoning, message = final.output
    assert reasoning.type == "reasoning" and reasoning.content is not None
    assert reasoning.content[0].text == "Two plus two."
    assert message.type == "message" and final.output_text == "Four."
    assert final.usage is not None
    assert final.usage.output_tokens_details.reasoning_tokens == 3
    assert [e.sequence_number for e in events] == list(range(len(events)))
