"""Conversation rows for the chat template: tool calls and results in the generic format."""

from __future__ import annotations

import pytest

from hearth.errors import InvalidRequest
from hearth.services.chat.params import Message
from hearth.services.chat.prepare import conversation_rows


def test_calls_become_blocks_and_consecutive_results_one_user_turn() -> None:
    call = {"id": "call_1", "function": {"name": "f", "arguments": '{"a": 1}'}}
    messages = [
        Message(role="user", content="hi"),
        Message.model_validate(
            {"role": "assistant", "tool_calls": [call, {**call, "id": "call_2"}]}
        ),
        Message(role="tool", tool_call_id="call_1", content="one"),
        Message(role="tool", tool_call_id="call_2", content="two"),
        Message(role="assistant", content="done"),
    ]
    rows = conversation_rows(messages)
    assert [r["role"] for r in rows] == ["user", "assistant", "user", "assistant"]
    assert rows[1]["content"].count('<tool_call>\n{"name": "f", "arguments": {"a": 1}}') == 2
    assert rows[2]["content"] == (
        "<tool_response>\none\n</tool_response>\n<tool_response>\ntwo\n</tool_response>"
    )


def test_result_for_an_unknown_call_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        conversation_rows(
            [
                Message(role="user", content="hi"),
                Message(role="tool", tool_call_id="call_x", content="?"),
            ]
        )
    assert caught.value.param == "messages[1].role"
