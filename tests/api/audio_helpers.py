"""Helpers for the audio tests: decoding responses, re-muxing speech, word error rate."""

from __future__ import annotations

import io
import re
from pathlib import Path

import av
import jiwer
import numpy as np

from hearth.audio.codecs import decode

FIXTURES = Path(__file__).parent.parent / "fixtures"

SENTENCES = [
    "The weather is nice today, so we will walk to the park.",
    "Please send the report to my office before noon on Friday.",
    "She bought three apples and a loaf of bread at the market.",
]


def seconds(data: bytes) -> float:
    """Duration of an encoded audio file, decoded by PyAV."""
    return len(decode(data, 16_000)) / 16_000


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after lower-casing and dropping punctuation."""

    def clean(t: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9' ]+", " ", t.lower()).split())

    return float(jiwer.wer(clean(reference), clean(hypothesis)))


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate after the same clean-up: fairer than ``wer`` on free text
    with invented names, which speech-to-text spells its own way."""

    def clean(t: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9' ]+", " ", t.lower()).split())

    return float(jiwer.cer(clean(reference), clean(hypothesis)))


def remux(wav: bytes, container: str, codec: str) -> bytes:
    """Speech re-encoded into another container (as a user's upload would be)."""
    samples = decode(wav, 16_000)
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as dst:
        stream = dst.add_stream(codec, rate=48_000 if codec == "libopus" else 16_000, layout="mono")
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name,
            layout="mono",
            rate=stream.codec_context.sample_rate,
            frame_size=stream.codec_context.frame_size or None,
        )
        frame = av.AudioFrame.from_ndarray(
            samples[None, :].astype(np.float32), format="flt", layout="mono"
        )
        frame.sample_rate = 16_000
        for f in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(f):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out.getvalue()
