"""Unit tests of the Realtime pieces that need no model: session config in both
vocabularies, sentence cutting, items and their chat messages, event renaming, and the
dispatch of client events to their handlers."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, cast

import pytest
from openai.types.beta.realtime.session import Session as BetaSession
from openai.types.realtime.realtime_session_create_request import (
    RealtimeSessionCreateRequest,
)

from hearth.errors import InvalidRequest
from hearth.services.realtime.config import (
    SessionConfig,
    apply_beta,
    apply_ga,
    render_beta,
    render_ga,
)
from hearth.services.realtime.events import error_event
from hearth.services.realtime.handlers import router
from hearth.services.realtime.items import (
    Conversation,
    Item,
    Part,
    Spoken,
    chat_messages,
    item_from_wire,
    item_wire,
)
from hearth.services.realtime.sentences import SentenceSplitter
from hearth.services.realtime.session import RealtimeSession, SessionDeps
from hearth.services.realtime.wire import Vocabulary


def allow(kind: str, value: Any) -> None:
    if value == "nobody":
        raise InvalidRequest("Unknown voice.", param="voice", code="invalid_value")


def test_ga_update_is_partial_and_renders_as_the_sdk_session() -> None:
    config = apply_ga(
        SessionConfig(model="gpt-realtime"),
        {
            "type": "realtime",
            "instructions": "Hi.",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "turn_detection": {"type": "server_vad", "threshold": 0.7},
                },
                "output": {"voice": "marin", "speed": 1.2},
            },
        },
        allow,
    )
    assert config.input_format == "g711_ulaw" and config.output_format == "pcm16"
    assert config.turn_detection is not None and config.turn_detection.threshold == 0.7
    assert config.turn_detection.silence_duration_ms == 500  # untouched default
    again = apply_ga(
        config, {"type": "realtime", "audio": {"input": {"turn_detection": None}}}, allow
    )
    assert again.turn_detection is None and again.voice == "marin"
    assert config.turn_detection is not None  # updates never change the original
    session = RealtimeSessionCreateRequest.model_validate(render_ga(again))
    assert session.audio and session.audio.output and session.audio.output.voice == "marin"


def test_beta_update_and_render() -> None:
    config = apply_beta(
        SessionConfig(model="gpt-4o-realtime-preview"),
        {
            "modalities": ["text"],
            "input_audio_format": "g711_alaw",
            "temperature": 0.7,
            "max_response_output_tokens": 100,
            "input_audio_transcription": {"model": "whisper-1"},
        },
        allow,
    )
    assert config.output_modalities == ["text"] and config.max_output_tokens == 100
    wire = render_beta(config)
    assert wire["modalities"] == ["text"] and wire["input_audio_format"] == "g711_alaw"
    BetaSession.model_validate(wire)


@pytest.mark.parametrize(
    ("beta", "session", "param"),
    [
        (
            False,
            {"type": "realtime", "audio": {"output": {"voice": "nobody"}}},
            "session.audio.output.voice",
        ),
        (
            False,
            {"type": "realtime", "output_modalities": ["text", "audio"]},
            "session.output_modalities",
        ),
        (False, {"type": "realtime", "max_output_tokens": 0}, "session.max_output_tokens"),
        (
            False,
            {
                "type": "realtime",
                "tools": [{"type": "function", "name": "f"}],
                "tool_choice": {"type": "function", "name": "g"},
            },
            "session.tool_choice.name",
        ),
        (
            False,
            {
                "type": "realtime",
                "tools": [{"type": "function", "name": f"f{i}"} for i in range(129)],
            },
            "session.tools",
        ),
        (
            True,
            {"tools": [{"type": "function", "name": f"f{i}"} for i in range(129)]},
            "session.tools",
        ),
        (False, {"type": "transcription"}, "session.type"),
        (True, {"temperature": 2.0}, "session.temperature"),
        (True, {"output_audio_format": "mp3"}, "session.output_audio_format"),
        (True, {"turn_detection": {"type": "magic_vad"}}, "session.turn_detection.type"),
    ],
)
def test_bad_values_name_their_field(beta: bool, session: dict[str, Any], param: str) -> None:
    apply = apply_beta if beta else apply_ga
    with pytest.raises(InvalidRequest) as err:
        apply(SessionConfig(model="m"), session, allow)
    assert err.value.param == param


def test_sentences_are_cut_as_they_complete() -> None:
    splitter = SentenceSplitter()
    pieces = []
    words = [
        "Sure,",
        "I",
        "can",
        "help",
        "with",
        "that",
        "question.",
        "Paris",
        "is",
        "lovely!",
        "And",
        "so",
    ]
    for token in words:
        pieces += splitter.feed(token + " ")
    # the first piece may end at a clause once it is long enough
    assert pieces == ["Sure, I can help with that question.", "Paris is lovely!"]
    assert splitter.flush() == "And so"
    first = SentenceSplitter()
    assert first.feed("The capital city of France, as you know, is Paris") == [
        "The capital city of France,"
    ]


def test_chat_messages_from_items() -> None:
    conversation = Conversation()
    conversation.insert(
        Item("a", "message", "user", content=[Part("input_audio", transcript="Weather?")])
    )
    conversation.insert(Item("b", "function_call", call_id="c1", name="w", arguments="{}"))
    conversation.insert(Item("c", "function_call_output", call_id="c1", output="sunny"))
    conversation.insert(
        Item("s", "message", "system", content=[Part("input_text", text="Be brief.")]), "root"
    )
    messages = chat_messages("Rules.", conversation.items)
    assert [m["role"] for m in messages] == ["system", "system", "user", "assistant", "tool"]
    assert messages[3]["tool_calls"][0]["id"] == "c1" and messages[4]["content"] == "sunny"
    with pytest.raises(InvalidRequest):
        conversation.insert(Item("z", "message", "user"), "missing")


def test_truncation_keeps_the_sentences_heard() -> None:
    item = Item("x", "message", "assistant", content=[Part("output_audio", transcript="")])
    item.audio_samples = 48_000
    item.spoken = [Spoken("One.", 24_000), Spoken("Two.", 48_000)]
    item.truncate(1500)
    assert item.content[0].transcript == "One." and item.audio_samples == 36_000


def test_items_speak_both_vocabularies() -> None:
    raw = {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "x"}]}
    item = item_from_wire(raw, beta=True)
    assert item.content[0].type == "output_text"
    assert item_wire(item, beta=True)["content"] == [{"type": "text", "text": "x"}]
    assert item_wire(item, beta=False)["content"] == [{"type": "output_text", "text": "x"}]
    with pytest.raises(InvalidRequest):  # GA has no "text" part
        item_from_wire(raw, beta=False)


def test_vocabulary_names_and_errors() -> None:
    ga, beta = Vocabulary(False), Vocabulary(True)
    event = {"type": "response.output_audio.delta", "delta": "AA=="}
    assert ga.render(event)["type"] == "response.output_audio.delta"  # type: ignore[index]
    assert beta.render(event)["type"] == "response.audio.delta"  # type: ignore[index]
    assert beta.render({"type": "conversation.item.done"}) is None
    with pytest.raises(InvalidRequest) as err:
        ga.validate(ga.decode('{"type": "input_audio_buffer.append", "event_id": "e1"}'))
    assert err.value.param == "audio"
    with pytest.raises(InvalidRequest) as err:
        ga.validate(
            ga.decode(
                '{"type": "session.update", "session": {"type": "realtime", "audio": '
                '{"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}}'
            )
        )
    assert err.value.param == "session.audio.input.format.rate"
    parsed = ga.decode(
        '{"type": "response.create", "response": {"input": '
        '[{"type": "item_reference", "id": "item_1"}]}}'
    )
    ga.validate(parsed)
    assert parsed["response"]["input"][0]["id"] == "item_1"
    with pytest.raises(InvalidRequest) as err:
        ga.decode("[1]")
    assert err.value.code == "invalid_event"


def test_session_fields_are_strict_and_name_bad_ones() -> None:
    fields = Vocabulary(True).session_fields(
        {"turn_detection": {"threshold": 1}, "input_audio_transcription": None}
    )
    assert fields == {"turn_detection": {"threshold": 1.0}, "input_audio_transcription": None}
    for beta, session, param in (
        (
            False,
            {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": "0.7"}}},
            },
            "session.audio.input.turn_detection.threshold",
        ),
        (False, {"type": "realtime", "audio": 5}, "session.audio"),
        (False, {"type": "realtime", "model": 1}, "session.model"),
        (True, {"turn_detection": 7}, "session.turn_detection"),
        (True, {"modalities": "text"}, "session.modalities"),
    ):
        with pytest.raises(InvalidRequest) as err:
            Vocabulary(beta).session_fields(session)
        # (a union's member tag such as ``str`` may follow: hearth.errors.json_path)
        assert (err.value.param or "").startswith(param) and err.value.status_code == 400


def test_error_events_carry_the_error_and_the_client_event() -> None:
    exc = InvalidRequest("Bad.", param="item_id", code="item_not_found")
    wire = Vocabulary(True).render(error_event(exc, "evt_1"))
    assert wire is not None and wire["type"] == "error" and wire["event_id"].startswith("event_")
    assert wire["error"] == {
        "type": "invalid_request_error",
        "code": "item_not_found",
        "message": "Bad.",
        "param": "item_id",
        "event_id": "evt_1",
    }


def _session(beta: bool = False) -> RealtimeSession:
    deps = SessionDeps(
        context=lambda emit, conversation: cast(Any, None),
        check=allow,
        vad=lambda: None,
        stt_model="whisper-tiny.en",
        rate_limits=list,
        max_buffer_ms=60_000,
    )
    config = apply_ga(
        SessionConfig(model="m"),
        {"audio": {"input": {"turn_detection": None}}, "output_modalities": ["text"]},
        allow,
    )
    return RealtimeSession(deps, config, Vocabulary(beta))


def _sent(session: RealtimeSession) -> list[dict[str, Any]]:
    out = []
    while not session._out.empty():
        event = session._out.get_nowait()
        wire = session.vocab.render(event) if event is not None else None
        if wire is not None:
            out.append(json.loads(json.dumps(wire)))
    return out


def test_client_events_are_routed_by_type_and_errors_name_them() -> None:
    assert router.kinds == (
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
        "output_audio_buffer.clear",
    )

    async def main() -> list[dict[str, Any]]:
        session = _session()
        for event in (
            {"type": "no.such.event", "event_id": "e1"},
            {"type": "input_audio_buffer.append", "event_id": "e2"},
            {"type": "conversation.item.delete", "item_id": "x", "event_id": "e3"},
            {
                "type": "session.update",
                "event_id": "e4",
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {"turn_detection": {"type": "server_vad", "threshold": "0.9"}}
                    },
                },
            },
            {
                "type": "session.update",
                "event_id": "e5",
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {"turn_detection": {"type": "server_vad", "threshold": 0.9}}
                    },
                },
            },
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hi"}],
                },
            },
        ):
            await session.handle(json.dumps(event))
        await session.handle("{not json")
        return _sent(session)

    sent = asyncio.run(main())
    errors = [e["error"] for e in sent if e["type"] == "error"]
    assert [(e["event_id"], e["param"]) for e in errors] == [
        ("e1", "type"),
        ("e2", "audio"),
        ("e3", "item_id"),
        ("e4", "session.audio.input.turn_detection.threshold"),
        (None, None),
    ]
    assert errors[-1]["code"] == "invalid_json"
    [updated] = [e for e in sent if e["type"] == "session.updated"]
    assert updated["session"]["audio"]["input"]["turn_detection"]["threshold"] == 0.9
    assert [e["type"] for e in sent if e["type"].startswith("conversation.item")] == [
        "conversation.item.added",
        "conversation.item.done",
    ]


def test_a_session_ends_at_expires_at_with_an_error_event() -> None:
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        session = _session()
        session.config.expires_at = int(time.time())

        async def receive() -> str:
            await asyncio.Event().wait()
            return ""

        async def send(text: str) -> None:
            sent.append(json.loads(text))

        await asyncio.wait_for(session.run(receive, send), 5)

    asyncio.run(main())
    assert [e["type"] for e in sent] == ["session.created", "conversation.created", "error"]
    assert sent[-1]["error"]["code"] == "session_expired"
    assert sent[-1]["error"]["type"] == "invalid_request_error"


def test_input_buffer_commits_trims_and_refuses_bad_audio() -> None:
    import base64

    import numpy as np

    from hearth.services.realtime.audio_in import InputBuffer

    buffer = InputBuffer(None)
    buffer.configure("pcm16", None)
    second = base64.b64encode((np.ones(24_000, "<i2") * 1000).tobytes()).decode()
    for _ in range(3):
        buffer.append(second)
    total = buffer.total_ms  # the streaming resampler holds back a few samples
    assert 2990 <= total <= 3000 and buffer.buffered_ms == total
    buffer.trim(400)  # keeps the last 400 ms, positions stay on the session timeline
    assert buffer.buffered_ms == 400 and buffer.start == (total - 400) * 16
    committed = buffer.commit(from_ms=total - 200)
    assert (committed.start_ms, committed.end_ms) == (total - 200, total)
    assert committed.samples.size == 3200 and abs(len(committed.wire) - 9600) <= 64
    with pytest.raises(InvalidRequest) as err:
        buffer.commit()
    assert err.value.code == "input_audio_buffer_commit_empty"
    with pytest.raises(InvalidRequest):
        buffer.append(base64.b64encode(b"\x01\x02\x03").decode())
