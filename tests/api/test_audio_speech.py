"""client.audio.speech through the SDK, in-process, with the bundled Piper voice."""

from __future__ import annotations

import base64
import json
import statistics

import httpx2
import openai
import pytest

from hearth.audio.registry import OPENAI_VOICES
from tests.api.audio_helpers import seconds
from tests.conftest import API_KEY

pytestmark = pytest.mark.anyio

TEXT = "Hello from Hearth. This sentence is spoken by a local voice. Goodbye for now."
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("mp3", "audio/mpeg"),
        ("opus", "audio/ogg"),
        ("aac", "audio/aac"),
        ("flac", "audio/flac"),
        ("wav", "audio/wav"),
    ],
)
async def test_every_format_decodes_to_the_speech(
    client: openai.AsyncOpenAI, fmt: str, media_type: str
) -> None:
    response = await client.audio.speech.create(
        model="tts-1", voice="alloy", input=TEXT, response_format=fmt
    )  # type: ignore[arg-type]
    assert response.response.headers["content-type"] == media_type
    # ~4.5 s of speech for 13 words; codecs pad a few frames at most
    assert 3.0 < seconds(response.content) < 7.0


async def test_pcm_is_raw_24khz_s16le_mono(client: openai.AsyncOpenAI) -> None:
    pcm = (
        await client.audio.speech.create(
            model="tts-1", voice="alloy", input=TEXT, response_format="pcm"
        )
    ).content
    wav = (
        await client.audio.speech.create(
            model="tts-1", voice="alloy", input=TEXT, response_format="wav"
        )
    ).content
    assert len(pcm) % 2 == 0
    assert wav[:4] == b"RIFF" and pcm[:4] != b"RIFF"
    assert wav[22:24] == (1).to_bytes(2, "little")  # mono
    assert wav[24:28] == (24_000).to_bytes(4, "little")
    assert wav[34:36] == (16).to_bytes(2, "little")  # bits per sample
    # Piper's duration noise varies each synthesis by up to ~15%
    assert 0.75 < (len(pcm) / 48_000) / seconds(wav) < 1.33


async def test_mp3_is_the_default(client: openai.AsyncOpenAI) -> None:
    response = await client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="nova", input="Just a default."
    )
    assert response.response.headers["content-type"] == "audio/mpeg"
    assert seconds(response.content) > 0.5


async def test_speed_scales_duration(client: openai.AsyncOpenAI) -> None:
    async def length(speed: float) -> float:
        # median of 3: Piper's duration noise moves one synthesis by up to ~15%
        return statistics.median(
            [
                seconds(
                    (
                        await client.audio.speech.create(
                            model="tts-1",
                            voice="alloy",
                            input=TEXT,
                            response_format="flac",
                            speed=speed,
                        )
                    ).content
                )
                for _ in range(3)
            ]
        )

    normal, fast, slow = await length(1.0), await length(2.0), await length(0.5)
    # measured on the bundled voice: x0.63 at speed 2, x1.8 at speed 0.5 (pauses between
    # sentences scale less than phonemes)
    assert 0.5 < fast / normal < 0.75
    assert 1.5 < slow / normal < 2.1


async def test_every_openai_voice_is_accepted(client: openai.AsyncOpenAI) -> None:
    for voice in OPENAI_VOICES:
        response = await client.audio.speech.create(
            model="tts-1-hd", voice=voice, input="Hi.", response_format="pcm"
        )
        assert len(response.content) > 2_400, voice


async def test_voice_by_piper_name_and_as_object(client: openai.AsyncOpenAI) -> None:
    for voice in ("en_US-joe-medium", {"id": "alloy"}):
        response = await client.audio.speech.create(
            model="piper",
            voice=voice,  # type: ignore[arg-type]
            input="Hi there.",
            response_format="wav",
        )
        assert seconds(response.content) > 0.3


async def test_instructions_are_accepted(client: openai.AsyncOpenAI) -> None:
    response = await client.audio.speech.create(
        model="gpt-4o-mini-tts",
        voice="coral",
        input="Hi there.",
        response_format="wav",
        instructions="Speak in a cheerful tone.",
    )
    assert seconds(response.content) > 0.3


async def test_sse_stream_format(http: httpx2.AsyncClient) -> None:
    r = await http.post(
        "/v1/audio/speech",
        headers=AUTH,
        json={
            "model": "gpt-4o-mini-tts",
            "voice": "alloy",
            "input": TEXT,
            "response_format": "pcm",
            "stream_format": "sse",
        },
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    deltas, done = events[:-1], events[-1]
    assert {e["type"] for e in deltas} == {"speech.audio.delta"}
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert 3.0 < len(audio) / 48_000 < 7.0
    assert done["type"] == "speech.audio.done"
    usage = done["usage"]
    assert usage["input_tokens"] > 20 and usage["output_tokens"] > 100
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


@pytest.mark.parametrize(
    ("body", "param", "status"),
    [
        ({"input": "x" * 4097}, "input", 400),
        ({"input": "   "}, "input", 400),
        ({"input": "... ?!"}, "input", 400),
        ({"voice": "darth"}, "voice", 400),
        ({"voice": {"id": "voice_123"}}, "voice", 400),
        ({"response_format": "ogg"}, "response_format", 400),
        ({"speed": 4.5}, "speed", 400),
        ({"speed": 0.2}, "speed", 400),
        ({"model": "tts-9"}, "model", 404),
        ({"model": "smollm2-135m-instruct"}, "model", 404),
    ],
)
async def test_bad_requests_are_openai_errors(
    client: openai.AsyncOpenAI, body: dict[str, object], param: str, status: int
) -> None:
    request: dict[str, object] = {"model": "tts-1", "voice": "alloy", "input": "Hello."}
    request.update(body)
    with pytest.raises(openai.APIStatusError) as err:
        await client.audio.speech.create(**request)  # type: ignore[arg-type]
    assert err.value.status_code == status
    assert err.value.body["param"] == param  # type: ignore[index]
    assert err.value.body["type"] == "invalid_request_error"  # type: ignore[index]


async def test_exactly_4096_characters_is_allowed(client: openai.AsyncOpenAI) -> None:
    text = ("Word. " * 683)[:4096]
    response = await client.audio.speech.create(
        model="tts-1", voice="alloy", input=text, response_format="pcm"
    )
    assert len(response.content) > 48_000
