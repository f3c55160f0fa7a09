"""Codecs (PyAV) and transcript renderings, without speech models."""

from __future__ import annotations

import numpy as np
import pytest

from hearth.audio.codecs import Encoder, decode
from hearth.audio.stt import Segment
from hearth.errors import InvalidRequest
from hearth.services.audio.formats import srt, vtt

TONE = (0.3 * np.sin(2 * np.pi * 440 * np.arange(22_050) / 22_050)).astype(np.float32)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav"])
def test_encoder_streams_and_round_trips(fmt: str) -> None:
    encoder = Encoder(fmt, 22_050)  # type: ignore[arg-type]
    parts = [encoder.encode(TONE) for _ in range(4)]
    assert any(parts[:2]), "bytes leave before the end of the stream"
    data = b"".join(parts) + encoder.finish()
    assert abs(len(decode(data, 24_000)) / 24_000 - 4.0) < 0.1


def test_wav_is_streamable() -> None:
    encoder = Encoder("wav", 22_050)
    data = encoder.encode(TONE) + encoder.finish()
    assert data[4:8] == b"\xff\xff\xff\xff"  # size unknown while streaming, as OpenAI's


@pytest.mark.parametrize(
    "data", [b"", b"\x00" * 1000, b"RIFF....WAVEfmt garbage", bytes(range(256)) * 20]
)
def test_decode_rejects_non_audio_with_400(data: bytes) -> None:
    with pytest.raises(InvalidRequest) as err:
        decode(data)
    assert err.value.param == "file"


def test_decode_refuses_audio_over_the_length_cap() -> None:
    encoder = Encoder("flac", 22_050)
    data = b"".join(encoder.encode(TONE) for _ in range(5)) + encoder.finish()
    assert len(decode(data, 16_000, max_seconds=6)) == 5 * 16_000
    with pytest.raises(InvalidRequest) as err:
        decode(data, 16_000, max_seconds=3)
    assert err.value.code == "audio_too_long"


def _segment(i: int, start: float, end: float, text: str) -> Segment:
    return Segment(i, 0, start, end, text, [1], 0.0, -0.2, 1.1, 0.01)


def test_srt_and_vtt_timestamps() -> None:
    segments = [_segment(0, 0.0, 2.5, " Hello there."), _segment(1, 3661.25, 3662.0, " Bye.")]
    assert srt(segments) == (
        "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
        "2\n01:01:01,250 --> 01:01:02,000\nBye.\n\n"
    )
    assert vtt(segments) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n"
        "01:01:01.250 --> 01:01:02.000\nBye.\n\n"
    )
