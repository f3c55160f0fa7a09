"""End to end: speech streams from a real ``hearth serve``, and uploads go over real HTTP."""

from __future__ import annotations

import time

import httpx2
import openai
import pytest

from hearth.audio.codecs import decode
from tests.api.audio_helpers import SENTENCES, wer
from tests.conftest import API_KEY
from tests.e2e.conftest import Server, hearth_engine

pytestmark = pytest.mark.e2e

LONG = " ".join(SENTENCES * 4)  # 12 sentences, ~40 s of speech


@pytest.mark.parametrize("fmt", ["mp3", "pcm"])
def test_speech_streams_sentence_by_sentence(sync_client: openai.OpenAI, fmt: str) -> None:
    sync_client.audio.speech.create(model="tts-1", voice="alloy", input="Warm up.")
    started = time.monotonic()
    arrivals: list[tuple[float, int]] = []
    with sync_client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=LONG, response_format=fmt
    ) as response:
        for chunk in response.iter_bytes():
            arrivals.append((time.monotonic() - started, len(chunk)))
    first, total = arrivals[0][0], arrivals[-1][0]
    # the first audio leaves while later sentences are still being synthesized
    assert len(arrivals) > 3
    assert first < total / 3, arrivals
    if fmt == "pcm":
        assert sum(n for _, n in arrivals) / 48_000 > 25


def test_upload_over_http_round_trip(sync_client: openai.OpenAI) -> None:
    wav = sync_client.audio.speech.create(
        model="tts-1", voice="alloy", input=SENTENCES[0], response_format="wav"
    ).content
    assert len(decode(wav)) > 16_000
    result = sync_client.audio.transcriptions.create(
        file=("speech.wav", wav), model="gpt-4o-mini-transcribe"
    )
    assert wer(SENTENCES[0], result.text) <= 0.15, result.text


def assert_one_job_cancelled(server: Server, before: int, within_s: float) -> None:
    """Wait until the audio job whose client left has stopped, and nothing is in flight."""
    deadline = time.monotonic() + within_s
    stats = hearth_engine(server)["audio"]
    while (
        stats["jobs_cancelled"] == before or stats["jobs_in_flight"]
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
        stats = hearth_engine(server)["audio"]
    assert stats["jobs_cancelled"] == before + 1 and stats["jobs_in_flight"] == 0


def test_client_that_leaves_stops_synthesis(sync_client: openai.OpenAI, server: Server) -> None:
    before = hearth_engine(server)["audio"]["jobs_cancelled"]
    text = ("Word by word the story goes on, and nobody listens to the end. " * 60)[:4096]
    with sync_client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=text, response_format="pcm"
    ) as response:
        next(response.iter_bytes())  # ~4 minutes of speech: leave after the first chunk
    assert_one_job_cancelled(server, before, within_s=30)


def test_transcription_stops_when_its_client_leaves(
    sync_client: openai.OpenAI, server: Server
) -> None:
    long_speech = sync_client.audio.speech.create(
        model="tts-1",
        voice="alloy",
        input=" ".join(SENTENCES * 12),
        response_format="wav",
    ).content  # ~2 minutes: four 30 s windows for Whisper base
    before = hearth_engine(server)["audio"]["jobs_cancelled"]
    with pytest.raises(httpx2.TimeoutException):
        httpx2.post(
            f"{server.url}/v1/audio/transcriptions",
            headers={"Authorization": f"Bearer {API_KEY}"},
            files={"file": ("long.wav", long_speech)},
            data={"model": "whisper-1"},
            timeout=httpx2.Timeout(30, read=1.0),
        )
    assert_one_job_cancelled(server, before, within_s=60)
