"""Server VAD (Silero, streamed) on real speech from the bundled voice, and G.711."""

from __future__ import annotations

import numpy as np
import pytest

from hearth.audio.codecs import g711_decode, g711_encode, resample
from hearth.audio.tts import PiperTTS
from hearth.audio.vad import SileroVad, SpeechStarted, SpeechStopped, VadConfig
from hearth.audio.weights import bundled_voice


@pytest.fixture(scope="module")
def speech_16k() -> tuple[np.ndarray, np.ndarray]:
    """Two utterances at 16 kHz (resampled from the voice's 22.05 kHz)."""
    source = bundled_voice()
    assert source is not None
    tts = PiperTTS(source)

    def say(text: str) -> np.ndarray:
        samples = np.concatenate([c.samples for c in tts.synthesize(text)])
        return resample(samples, tts.sample_rate, 16_000)

    return say("Hello there, how are you today?"), say("I am fine, thank you.")


def _silence(ms: int) -> np.ndarray:
    return np.zeros(16 * ms, dtype=np.float32)


def _run(vad: SileroVad, config: VadConfig, audio: np.ndarray) -> list[object]:
    stream = vad.stream(config)
    events: list[object] = []
    for i in range(0, audio.size, 320):  # 20 ms chunks, as a microphone sends them
        events += stream.feed(audio[i : i + 320])
    return events


def test_turns_are_found_where_the_speech_is(speech_16k: tuple[np.ndarray, np.ndarray]) -> None:
    first, second = speech_16k
    audio = np.concatenate([_silence(1000), first, _silence(1200), second, _silence(1000)])
    first_end = 1000 + first.size // 16
    second_start = first_end + 1200
    second_end = second_start + second.size // 16
    events = _run(SileroVad(), VadConfig(silence_duration_ms=500), audio)
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped] * 2
    starts = [e.audio_start_ms for e in events if isinstance(e, SpeechStarted)]
    ends = [e.audio_end_ms for e in events if isinstance(e, SpeechStopped)]
    # Piper's output has some silence of its own at the edges
    assert 1000 <= starts[0] <= 1000 + 300 and second_start <= starts[1] <= second_start + 300
    assert first_end - 400 <= ends[0] <= first_end and second_end - 400 <= ends[1] <= second_end


def test_a_longer_silence_duration_joins_the_turns(
    speech_16k: tuple[np.ndarray, np.ndarray],
) -> None:
    first, second = speech_16k
    # Piper's own edge silence (up to ~400 ms each side) adds to the 700 ms gap
    audio = np.concatenate([_silence(500), first, _silence(700), second, _silence(2000)])
    events = _run(SileroVad(), VadConfig(silence_duration_ms=1500), audio)
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped]


def test_silence_and_noise_floor_are_not_speech() -> None:
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(16_000 * 3) * 0.002).astype(np.float32)
    assert _run(SileroVad(), VadConfig(), audio) == []


@pytest.mark.parametrize("law", ["g711_ulaw", "g711_alaw"])
def test_g711_round_trip(law: str) -> None:
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(8_000) / 8_000)).astype(np.float32)
    data = g711_encode(tone, law)
    assert len(data) == 8_000  # one byte per sample
    back = g711_decode(data, law)
    assert back.size == 8_000 and float(np.abs(back - tone).max()) < 0.02
