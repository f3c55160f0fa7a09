"""The streaming tool-call parser: any split of the model's text gives the same calls."""

from __future__ import annotations

import json

import pytest

from hearth.services.chat.tool_calls import (
    Arguments,
    CallStarted,
    Content,
    Piece,
    ToolCallParser,
    call_text,
    new_call_id,
)

TWO_CALLS = call_text("get_weather", '{"city": "Paris", "note": "a } \\" ]{"}') + call_text(
    "get_time", '{"city": "Rome", "nested": {"a": [1, {"b": 2}]}}'
)


def feed_in_pieces(text: str, size: int) -> tuple[ToolCallParser, list[Piece]]:
    parser = ToolCallParser()
    pieces: list[Piece] = []
    for start in range(0, len(text), size):
        pieces += parser.feed(text[start : start + size])
    return parser, pieces


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_calls_survive_any_split(size: int) -> None:
    parser, pieces = feed_in_pieces(TWO_CALLS, size)
    assert [(c.name, c.complete) for c in parser.calls] == [
        ("get_weather", True),
        ("get_time", True),
    ]
    assert json.loads(parser.calls[0].arguments)["note"] == 'a } " ]{'
    assert json.loads(parser.calls[1].arguments)["nested"] == {"a": [1, {"b": 2}]}
    starts = [p for p in pieces if isinstance(p, CallStarted)]
    assert [s.index for s in starts] == [0, 1] and starts[0].id == parser.calls[0].id
    for index, call in enumerate(parser.calls):
        assert (
            "".join(p.text for p in pieces if isinstance(p, Arguments) and p.index == index)
            == call.arguments
        )
    assert not any(isinstance(p, Content) for p in pieces)


def test_text_answer_is_content() -> None:
    parser, pieces = feed_in_pieces("Sunny, 21 degrees.", 4)
    assert "".join(p.text for p in pieces if isinstance(p, Content)) == "Sunny, 21 degrees."
    assert parser.calls == []


def test_truncated_call_is_incomplete() -> None:
    parser, _ = feed_in_pieces(TWO_CALLS[:60], 5)
    assert len(parser.calls) == 1 and not parser.calls[0].complete


def test_call_ids_look_like_openai_ids() -> None:
    ids = {new_call_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("call_") and len(i) == 29 and i[5:].isalnum() for i in ids)
