"""End to end: the Realtime API through the official SDK's realtime clients (GA and beta)
against a real ``hearth serve`` with the bundled models. Every event received is validated
against the SDK's own server-event types for its vocabulary."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import re
import time
import wave
from typing import Any

import httpx2
import numpy as np
import openai
import pytest
import websockets

from hearth.audio.codecs import decode, float_to_pcm16, g711_decode, g711_encode, resample
from tests.api.audio_helpers import FIXTURES, cer, wer
from tests.conftest import API_KEY
from tests.e2e.conftest import Server, engine_stats, hearth_engine
from tests.e2e.realtime_helpers import (
    SILENCE,
    audio_of,
    client,
    connect,
    pcm_to_float,
)

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

QUESTION = "What is the capital of France?"
BRIEF = "You are a helpful assistant. Answer in one short sentence in plain English."
_speech: dict[str, bytes] = {}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def speech(server: Server, text: str) -> bytes:
    """24 kHz pcm16 of ``text`` spoken by Hearth's own TTS (cached per text)."""
    if text not in _speech:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY) as c:
            _speech[text] = c.audio.speech.create(
                model="tts-1", voice="alloy", input=text, response_format="pcm"
            ).content
    return _speech[text]


def wav(pcm: bytes, rate: int = 24_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def transcribe(server: Server, pcm: bytes) -> str:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY) as c:
        return c.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav(pcm))).text


def session_update(beta: bool, **fields: Any) -> dict[str, Any]:
    """A session.update body in either vocabulary from GA-style keyword names."""
    transcription = {"model": "gpt-4o-mini-transcribe"}
    if beta:
        body: dict[str, Any] = {
            "input_audio_transcription": transcription,
            "instructions": fields.get("instructions", BRIEF),
            "max_response_output_tokens": fields.get("max_tokens", 40),
            "temperature": 0.6,
        }
        if "turn_detection" in fields:
            body["turn_detection"] = fields["turn_detection"]
        if "modalities" in fields:
            body["modalities"] = fields["modalities"]
        return body
    audio_in: dict[str, Any] = {"transcription": transcription}
    if "turn_detection" in fields:
        audio_in["turn_detection"] = fields["turn_detection"]
    body = {
        "type": "realtime",
        "instructions": fields.get("instructions", BRIEF),
        "max_output_tokens": fields.get("max_tokens", 40),
        "audio": {"input": audio_in},
    }
    if "modalities" in fields:
        body["output_modalities"] = fields["modalities"]
    return body


def names(beta: bool) -> dict[str, str]:
    if beta:
        return {
            "audio": "response.audio.delta",
            "transcript": "response.audio_transcript.delta",
            "transcript_done": "response.audio_transcript.done",
            "text": "response.text.delta",
            "text_done": "response.text.done",
            "added": "conversation.item.created",
        }
    return {
        "audio": "response.output_audio.delta",
        "transcript": "response.output_audio_transcript.delta",
        "transcript_done": "response.output_audio_transcript.done",
        "text": "response.output_text.delta",
        "text_done": "response.output_text.done",
        "added": "conversation.item.added",
    }


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
async def test_spoken_question_gets_a_spoken_answer(server: Server, beta: bool) -> None:
    n = names(beta)
    async with connect(server, beta) as s:
        await s.conn.session.update(session=session_update(beta))
        await s.until("session.updated")
        await s.send_audio(speech(server, QUESTION) + SILENCE)
        started = await s.until("input_audio_buffer.speech_started")
        stopped = await s.until("input_audio_buffer.speech_stopped")
        assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"]
        assert stopped["item_id"] == started["item_id"]
        committed = await s.until("input_audio_buffer.committed")
        assert committed["item_id"] == started["item_id"]
        done = await s.until("response.done", timeout=90)
        await s.until("rate_limits.updated")

    heard = s.of("conversation.item.input_audio_transcription.completed")
    assert len(heard) == 1 and heard[0]["item_id"] == committed["item_id"]
    assert wer(QUESTION, heard[0]["transcript"]) <= 0.3, heard[0]["transcript"]
    response = done["response"]
    assert response["status"] in ("completed", "incomplete"), response  # 40-token cap
    [message] = response["output"]
    assert message["role"] == "assistant" and message["status"] == response["status"]
    transcript = "".join(e["delta"] for e in s.of(n["transcript"]))
    assert transcript.strip() and message["content"][0]["transcript"] == transcript
    assert s.of(n["transcript_done"])[0]["transcript"] == transcript
    # the answer's audio is speech that says the transcript
    pcm = audio_of(s.seen, beta)
    assert len(pcm) / 48_000 > 0.5
    heard_back = transcribe(server, pcm)
    if transcript.isascii():
        assert cer(transcript, heard_back) <= 0.4, (transcript, heard_back)
    else:  # the English voice reads a (sampled) foreign answer its own way: still speech
        assert heard_back.strip(), transcript
    usage = response["usage"]
    assert usage["output_token_details"]["audio_tokens"] == pytest.approx(
        len(pcm) / 48_000 * 20, abs=1
    )
    assert usage["input_tokens"] > 0 and usage["output_token_details"]["text_tokens"] > 0
    # OpenAI's order: the input item, then the response's item, part and deltas
    order = [e["type"] for e in s.seen]
    first_audio = order.index(n["audio"])
    assert (
        order.index("input_audio_buffer.committed")
        < order.index(n["added"])
        < order.index("response.created")
        < order.index("response.output_item.added")
        < order.index("response.content_part.added")
        < first_audio
        < order.index("response.content_part.done")
        < order.index("response.done")
    )


async def test_a_sessions_audio_and_text_are_in_the_projects_usage(server: Server) -> None:
    found = re.search(r"Created admin key \(shown once, store it now\): (\S+)", server.output())
    assert found, "the server prints its first admin key once"
    admin = openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key="unused", admin_api_key=found.group(1)
    )
    project = await admin.admin.organization.projects.create(name="Voice app")
    account = await admin.admin.organization.projects.service_accounts.create(
        project.id, name="voice"
    )
    assert account.api_key is not None
    start = int(time.time())
    audio = speech(server, QUESTION) + SILENCE
    async with connect(server, api_key=account.api_key.value) as s:
        await s.conn.session.update(session=session_update(False))
        await s.until("session.updated")
        await s.send_audio(audio)
        done = await s.until("response.done", timeout=90)
    transcript = "".join(e["delta"] for e in s.of("response.output_audio_transcript.delta"))
    await asyncio.sleep(1.5)  # usage is written every second

    async def results(kind: str) -> list[Any]:
        page = await getattr(admin.admin.organization.usage, kind)(
            start_time=start, project_ids=[project.id], group_by=["model"]
        )
        return [r for bucket in page.data for r in bucket.results]

    [text] = await results("completions")
    assert text.input_tokens == done["response"]["usage"]["input_tokens"]
    assert text.output_tokens == done["response"]["usage"]["output_token_details"]["text_tokens"]
    heard = await results("audio_transcriptions")  # Whisper on the question, per model run
    sent_seconds = math.ceil(len(audio) / 2 / 24_000)
    assert heard and all(1 <= r.seconds <= sent_seconds for r in heard)  # VAD cuts silence
    [said] = await results("audio_speeches")  # Piper on the answer
    assert said.model == "tts-1"
    assert len(transcript.strip()) - 5 <= said.characters <= len(transcript) + 5
    await admin.close()


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
async def test_push_to_talk_with_text_answer(server: Server, beta: bool) -> None:
    n = names(beta)
    async with connect(server, beta) as s:
        await s.conn.session.update(
            session=session_update(beta, turn_detection=None, modalities=["text"])
        )
        updated = await s.until("session.updated")
        turn = (
            updated["session"]["turn_detection"]
            if beta
            else updated["session"]["audio"]["input"]["turn_detection"]
        )
        assert turn is None
        await s.send_audio(speech(server, QUESTION) + SILENCE)
        await s.conn.input_audio_buffer.commit()
        committed = await s.until("input_audio_buffer.committed")
        await s.conn.response.create()
        done = await s.until("response.done", timeout=90)
        # an empty buffer cannot be committed
        await s.conn.input_audio_buffer.commit(event_id="commit-empty")
        error = await s.until("error")

    assert not s.of("input_audio_buffer.speech_started")  # no VAD in push-to-talk
    assert (
        s.of("conversation.item.input_audio_transcription.completed")[0]["item_id"]
        == committed["item_id"]
    )
    assert not s.of(n["audio"])
    text = "".join(e["delta"] for e in s.of(n["text"]))
    assert text.strip() and s.of(n["text_done"])[0]["text"] == text
    assert done["response"]["output"][0]["content"][0]["type"] == (
        "text" if beta else "output_text"
    )
    assert error["error"]["code"] == "input_audio_buffer_commit_empty"
    assert error["error"]["event_id"] == "commit-empty"


WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        # bounded, so the enforced arguments always close within max_output_tokens
        "properties": {"city": {"type": "string", "maxLength": 24}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


async def test_tool_call_round_trip(server: Server) -> None:
    async with connect(server) as s:
        await s.conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "max_output_tokens": 100,
                "instructions": "You answer questions about the weather using the tool.",
                "tools": [WEATHER_TOOL],
                "tool_choice": "required",
                "audio": {"input": {"turn_detection": None}},
            }
        )
        await s.until("session.updated")
        await s.conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "What is the weather in Paris?"}],
            }
        )
        await s.conn.response.create()
        first = await s.until("response.done", timeout=90)
        [call] = first["response"]["output"]
        assert call["type"] == "function_call" and call["name"] == "get_weather"
        args = json.loads(call["arguments"])
        assert isinstance(args["city"], str)
        done_args = s.of("response.function_call_arguments.done")[0]
        assert done_args["call_id"] == call["call_id"] and done_args["name"] == "get_weather"
        deltas = "".join(e["delta"] for e in s.of("response.function_call_arguments.delta"))
        assert deltas == call["arguments"]

        await s.conn.conversation.item.create(
            item={
                "type": "function_call_output",
                "call_id": call["call_id"],
                "output": json.dumps({"report": "It is sunny and 21 degrees in Paris."}),
            }
        )
        await s.conn.response.create(
            response={
                "tool_choice": "none",
                "instructions": "Repeat the weather report from the tool result to the user.",
            }
        )
        second = await s.until("response.done", timeout=90)
        # the same request without the function's output, out of band, for comparison
        user_item = s.of("conversation.item.added")[0]["item"]["id"]
        await s.conn.response.create(
            response={
                "tool_choice": "none",
                "conversation": "none",
                "max_output_tokens": 1,
                "instructions": "Repeat the weather report from the tool result to the user.",
                "input": [
                    {"type": "item_reference", "id": user_item},
                    {"type": "item_reference", "id": call["id"]},
                ],
            }
        )
        control = await s.until("response.done", timeout=90)

    answer = second["response"]["output"][0]["content"][0]["text"]
    assert second["response"]["status"] in ("completed", "incomplete") and answer.strip()
    # the answer was generated with the call and its output in context (whether a
    # 135M-parameter model then repeats the report is up to the model: ~3 runs in 4)
    grew = (
        second["response"]["usage"]["input_tokens"] - control["response"]["usage"]["input_tokens"]
    )
    assert grew >= 15, (second["response"]["usage"], control["response"]["usage"])


async def test_speaking_over_an_answer_interrupts_and_truncates(server: Server) -> None:
    async with connect(server) as s:
        await s.conn.session.update(
            session=session_update(
                False,
                max_tokens=300,
                instructions="You are a storyteller. Tell a very long story about a dragon, "
                "in many short sentences.",
            )
        )
        await s.until("session.updated")
        await s.send_audio(speech(server, "Please tell me a long story.") + SILENCE)
        await s.until("response.output_audio.delta", timeout=90)
        # the user speaks while the answer is still being produced
        await s.send_audio(speech(server, QUESTION))
        interrupted = await s.until("response.done", timeout=30)
        item_id = interrupted["response"]["output"][0]["id"]
        await s.conn.conversation.item.retrieve(item_id=item_id)
        retrieved = (await s.until("conversation.item.retrieved"))["item"]
        await s.send_audio(SILENCE)  # the second turn ends; it is answered
        await s.until("response.done", timeout=90)

        # the client truncates further, to what it played
        sent = [
            e
            for e in s.seen
            if e["type"] == "response.output_audio.delta" and e["item_id"] == item_id
        ]
        sent_ms = sum(len(base64.b64decode(e["delta"])) for e in sent) * 1000 // 48_000
        await s.conn.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=sent_ms + 1000, event_id="too-far"
        )
        too_far = await s.until("error")
        await s.conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=0)
        truncated = await s.until("conversation.item.truncated")

    response = interrupted["response"]
    assert response["status"] == "cancelled", response
    assert response["status_details"]["reason"] == "turn_detected"
    assert retrieved["status"] == "incomplete"
    spoken = "".join(
        e["delta"]
        for e in s.seen
        if e["type"] == "response.output_audio_transcript.delta" and e["item_id"] == item_id
    )
    # the item keeps exactly what was sent before the interruption
    assert retrieved["content"][0]["transcript"] == spoken
    assert too_far["error"]["param"] == "audio_end_ms"
    assert too_far["error"]["event_id"] == "too-far"
    assert truncated["audio_end_ms"] == 0
    started = [i for i, e in enumerate(s.seen) if e["type"] == "input_audio_buffer.speech_started"][
        1
    ]
    cancelled_at = s.seen.index(interrupted)
    late = [e for e in s.seen[started:cancelled_at] if e["type"] == "response.output_audio.delta"]
    assert len(late) <= len(sent)  # nothing is produced after the barge-in is seen


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
async def test_malformed_events_get_errors_and_the_session_goes_on(
    server: Server, beta: bool
) -> None:
    bad: list[tuple[dict[str, Any], str | None]] = [
        ({"type": "no.such.event"}, "type"),
        ({"type": "input_audio_buffer.append", "audio": "not base64!"}, "audio"),
        (
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(b"\x01\x02\x03").decode(),
            },
            "audio",
        ),
        ({"type": "input_audio_buffer.append"}, "audio"),
        ({"type": "conversation.item.delete", "item_id": "item_missing"}, "item_id"),
        ({"type": "conversation.item.retrieve", "item_id": "item_missing"}, "item_id"),
        (
            {
                "type": "conversation.item.truncate",
                "item_id": "item_missing",
                "content_index": 0,
                "audio_end_ms": 0,
            },
            "item_id",
        ),
        (
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "robot", "content": []},
            },
            None,
        ),
        ({"type": "response.cancel"}, None),
        ({"type": "output_audio_buffer.clear"}, None),
        (
            {"type": "session.update", "session": {"input_audio_format": "mp3"}}
            if beta
            else {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
                },
            },
            None,
        ),
    ]
    async with connect(server, beta) as s:
        for i, (event, _) in enumerate(bad):
            await s.conn.send({**event, "event_id": f"bad-{i}"})
        errors = [await s.until("error", timeout=10) for _ in bad]
        # a user item cannot be truncated, and nothing past an assistant item's audio
        await s.conn.conversation.item.create(
            item={
                "id": "item_user1",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            }
        )
        await s.conn.conversation.item.create(
            item={
                "id": "item_bot1",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "audio" if beta else "output_audio", "transcript": "Hi."}],
            }
        )
        for item_id in ("item_user1", "item_bot1"):
            await s.conn.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": 500,
                    "event_id": f"trunc-{item_id}",
                }
            )
        truncate_errors = [await s.until("error", timeout=10) for _ in range(2)]
        await s.conn.session.update(session=session_update(beta), event_id="good")
        updated = await s.until("session.updated")

    for i, ((_, param), error) in enumerate(zip(bad, errors, strict=True)):
        assert error["error"]["event_id"] == f"bad-{i}", (bad[i], error)
        assert error["error"]["type"] == "invalid_request_error"
        if param is not None:
            assert param in (error["error"]["param"] or ""), error
    assert [e["error"]["event_id"] for e in truncate_errors] == [
        "trunc-item_user1",
        "trunc-item_bot1",
    ]
    assert updated["session"]["instructions"] == BRIEF


async def test_invalid_json_is_an_error_event(server: Server) -> None:
    async with connect(server) as s:
        await s.conn.send_raw("{not json")
        error = await s.until("error", timeout=10)
        await s.conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "still here"}],
            }
        )
        await s.until("conversation.item.added")
    assert error["error"]["code"] == "invalid_json"


async def test_items_create_retrieve_delete_and_out_of_band_responses(server: Server) -> None:
    async with connect(server) as s:
        await s.conn.session.update(
            session={"type": "realtime", "output_modalities": ["text"], "max_output_tokens": 16}
        )
        await s.until("session.updated")
        await s.conn.conversation.item.create(
            item={
                "id": "item_a",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hello."}],
            }
        )
        await s.conn.conversation.item.create(
            previous_item_id="root",
            item={
                "id": "item_b",
                "type": "message",
                "role": "system",
                "content": [{"type": "input_text", "text": "Be nice."}],
            },
        )
        added = [await s.until("conversation.item.added") for _ in range(2)]
        await s.conn.response.create(
            response={
                "conversation": "none",
                "metadata": {"topic": "classify"},
                "input": [
                    {"type": "item_reference", "id": "item_a"},
                    {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "Say yes."}],
                    },
                ],
            }
        )
        oob = await s.until("response.done", timeout=60)
        out_id = oob["response"]["output"][0]["id"]
        await s.conn.conversation.item.retrieve(item_id=out_id, event_id="oob-item")
        not_in_conversation = await s.until("error")
        await s.conn.conversation.item.retrieve(item_id="item_a")
        retrieved = await s.until("conversation.item.retrieved")
        await s.conn.conversation.item.delete(item_id="item_a")
        deleted = await s.until("conversation.item.deleted")
        await s.conn.conversation.item.retrieve(item_id="item_a", event_id="gone")
        gone = await s.until("error")

    assert added[0]["previous_item_id"] is None and added[1]["previous_item_id"] is None
    assert oob["response"]["conversation_id"] is None
    assert oob["response"]["metadata"] == {"topic": "classify"}
    assert oob["response"]["status"] in ("completed", "incomplete")  # 16 tokens
    assert not [e for e in s.of("conversation.item.added") if e["item"]["id"] == out_id]
    assert not_in_conversation["error"]["event_id"] == "oob-item"
    assert retrieved["item"]["content"] == [{"type": "input_text", "text": "Hello."}]
    assert deleted["item_id"] == "item_a" and gone["error"]["code"] == "item_not_found"


async def test_g711_in_and_out(server: Server) -> None:
    pcm = speech(server, QUESTION)
    narrow = resample(pcm_to_float(pcm), 24_000, 8_000)
    ulaw = g711_encode(np.concatenate([narrow, np.zeros(8000, np.float32)]), "g711_ulaw")
    async with connect(server) as s:
        await s.conn.session.update(
            session={
                "type": "realtime",
                "max_output_tokens": 24,
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "turn_detection": None,
                        "transcription": {"model": "gpt-4o-mini-transcribe"},
                    },
                    "output": {"format": {"type": "audio/pcmu"}},
                },
            }
        )
        await s.until("session.updated")
        for start in range(0, len(ulaw), 1600):
            await s.conn.input_audio_buffer.append(
                audio=base64.b64encode(ulaw[start : start + 1600]).decode()
            )
        await s.conn.input_audio_buffer.commit()
        await s.conn.response.create()
        await s.until("response.done", timeout=90)

    heard = s.of("conversation.item.input_audio_transcription.completed")[0]["transcript"]
    assert wer(QUESTION, heard) <= 0.3, heard
    out = audio_of(s.seen, beta=False)
    samples = g711_decode(out, "g711_ulaw")
    assert samples.size == len(out) and samples.size / 8000 > 0.5  # 8 kHz, a byte each
    assert float(np.sqrt(np.mean(samples**2))) > 0.01


async def test_two_sessions_at_once_stay_apart(server: Server) -> None:
    async def ask(text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with connect(server) as s:
            await s.conn.session.update(session=session_update(False, turn_detection=None))
            await s.until("session.updated")
            await s.conn.conversation.item.create(
                item={
                    "id": "item_same",
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                }
            )
            await s.conn.response.create()
            done = await s.until("response.done", timeout=120)
            return s.seen, done

    (seen_a, done_a), (seen_b, done_b) = await asyncio.gather(
        ask("Name a color."), ask("Name an animal.")
    )
    for seen, done in ((seen_a, done_a), (seen_b, done_b)):
        assert done["response"]["status"] in ("completed", "incomplete")
        assert audio_of(seen, beta=False)
        sessions = {e["session"]["id"] for e in seen if e["type"] == "session.created"}
        assert len(sessions) == 1
    assert done_a["response"]["id"] != done_b["response"]["id"]


async def test_client_secrets_open_sessions_for_browsers(server: Server) -> None:
    c = client(server)
    secret = await c.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 60},
        session={
            "type": "realtime",
            "instructions": "Be a pirate.",
            "audio": {"output": {"voice": "marin"}},
        },
    )
    beta_secret = await c.beta.realtime.sessions.create(
        model="gpt-4o-realtime-preview", instructions="Be a robot."
    )
    assert secret.value.startswith("ek_") and secret.session.instructions == "Be a pirate."
    assert beta_secret.client_secret.value.startswith("ek_")

    # the server-side SDK uses the secret as its key
    async with connect(server, api_key=secret.value) as s:
        await s.conn.session.update(session={"type": "realtime"})
        updated = await s.until("session.updated")
    assert updated["session"]["instructions"] == "Be a pirate."
    assert updated["session"]["audio"]["output"]["voice"] == "marin"

    # a browser sends it as a subprotocol, and gets "realtime" back
    url = server.url.replace("http://", "ws://") + "/v1/realtime?model=gpt-realtime"
    for key, extra, field in (
        (secret.value, [], "output_modalities"),
        (beta_secret.client_secret.value, ["openai-beta.realtime-v1"], "modalities"),
    ):
        async with websockets.connect(
            url,
            subprotocols=["realtime", f"openai-insecure-api-key.{key}", *extra],
        ) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "realtime"
            created = json.loads(await ws.recv())
        assert created["type"] == "session.created" and field in created["session"]
    assert created["session"]["instructions"] == "Be a robot."

    # bad credentials and bad sessions are refused before any socket opens
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, additional_headers={"Authorization": "Bearer ek_wrong"}):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "invalid_api_key"
    with pytest.raises(websockets.InvalidStatus) as unknown:
        async with websockets.connect(
            url.replace("gpt-realtime", "no-such-model"),
            additional_headers={"Authorization": f"Bearer {API_KEY}"},
        ):
            pass
    assert unknown.value.response.status_code == 404
    assert json.loads(unknown.value.response.body)["error"]["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        await c.realtime.client_secrets.create(
            session={"type": "realtime", "audio": {"output": {"voice": "nobody"}}}
        )
    assert bad.value.body["param"] == "session.audio.output.voice"  # type: ignore[index]
    r = httpx2.post(f"{server.url}/v1/realtime/client_secrets", json={})
    assert r.status_code == 401
    await c.close()


async def test_demo_token_is_for_this_machine_only(server: Server) -> None:
    r = httpx2.post(f"{server.url}/hearth/realtime/demo-token")
    assert r.status_code == 200 and r.json()["value"].startswith("ek_")


async def test_a_client_that_leaves_mid_answer_stops_everything(server: Server) -> None:
    async with connect(server) as s:
        await s.conn.session.update(
            session=session_update(
                False,
                turn_detection=None,
                max_tokens=400,
                instructions="Tell a very long story in many sentences.",
            )
        )
        await s.until("session.updated")
        await s.conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Tell me a long story."}],
            }
        )
        await s.conn.response.create()
        await s.until("response.output_audio.delta", timeout=60)
        assert hearth_engine(server)["realtime"]["sessions_open"] >= 1
    # the socket closed mid-answer: the session, its generation and its speech jobs end
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stats = hearth_engine(server)
        busy = (
            stats["realtime"]["sessions_open"],
            stats["audio"]["jobs_in_flight"],
            engine_stats(server)["active_requests"],
        )
        if busy == (0, 0, 0):
            break
        await asyncio.sleep(0.1)
    assert busy == (0, 0, 0)


async def test_a_pause_inside_a_turn_keeps_the_whole_turn(server: Server) -> None:
    # the pause is long enough to start transcribing early, too short to end the turn:
    # that early transcript must be dropped when the speaker goes on
    pause = b"\x00\x00" * 24 * 400
    audio = (
        speech(server, "The weather is nice today,")
        + pause
        + speech(server, "so we will walk to the park.")
        + SILENCE * 2
    )
    async with connect(server) as s:
        await s.conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "max_output_tokens": 8,
                "audio": {
                    "input": {
                        "transcription": {"model": "gpt-4o-mini-transcribe"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 1200},
                    }
                },
            }
        )
        await s.until("session.updated")
        await s.send_audio(audio)
        heard = await s.until("conversation.item.input_audio_transcription.completed")
        await s.until("response.done", timeout=60)
    assert len(s.of("input_audio_buffer.committed")) == 1
    assert (
        wer("The weather is nice today, so we will walk to the park.", heard["transcript"]) <= 0.2
    ), heard["transcript"]


async def test_a_whisper_1_session_answers_before_its_transcript_is_ready(server: Server) -> None:
    # Spanish speech: tiny.en (the fast model the answer starts from) cannot write it,
    # Whisper base (whisper-1) can, so the transcript shows which model wrote it
    spanish = "Buenos días. Mi casa es muy grande y tiene un jardín con muchas flores."
    pcm = float_to_pcm16(decode((FIXTURES / "es_casa.ogg").read_bytes(), 24_000))
    async with connect(server) as s:
        await s.conn.session.update(
            session={
                "type": "realtime",
                "instructions": BRIEF,
                "max_output_tokens": 16,
                "audio": {
                    "input": {
                        "transcription": {"model": "whisper-1"},
                        # one turn, however long espeak's pause between the sentences
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 1000},
                    }
                },
            }
        )
        await s.until("session.updated")
        await s.send_audio(pcm + SILENCE * 2)
        committed = await s.until("input_audio_buffer.committed")
        wanted = {
            "response.output_audio.delta",
            "conversation.item.input_audio_transcription.completed",
        }
        while not wanted <= {e["type"] for e in s.seen}:
            assert (await s.next(timeout=90))["type"] != "error", s.seen[-1]
        await s.conn.conversation.item.retrieve(item_id=committed["item_id"])
        retrieved = await s.until("conversation.item.retrieved")

    order = [e["type"] for e in s.seen]
    [heard] = s.of("conversation.item.input_audio_transcription.completed")
    # the answer was spoken before Whisper base had finished: it did not wait for it
    assert (
        order.index("response.created")
        < order.index("response.output_audio.delta")
        < order.index("conversation.item.input_audio_transcription.completed")
    ), order
    assert heard["item_id"] == committed["item_id"]
    assert wer(spanish, heard["transcript"]) <= 0.3, heard["transcript"]
    assert retrieved["item"]["content"][0]["transcript"] == heard["transcript"]
