"""The input audio buffer of a Realtime session (API reference: Realtime,
``input_audio_buffer.*``).

Appended audio (``pcm16``: 24 kHz s16le; ``g711_ulaw`` / ``g711_alaw``: 8 kHz) is
converted to 16 kHz float32 once, for both Silero VAD and Whisper. Positions are
milliseconds since the session's first appended audio, as OpenAI's ``audio_start_ms`` /
``audio_end_ms``; VAD judges the whole timeline, so its times need no offset.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from hearth.audio.codecs import Resampler, g711_decode, pcm16_to_float, resample
from hearth.audio.vad import (
    SileroVad,
    SpeechStarted,
    SpeechStopped,
    VadConfig,
    VadEvent,
    VadStream,
)
from hearth.errors import InvalidRequest

RATE = 16_000
INPUT_RATES = {"pcm16": 24_000, "g711_ulaw": 8_000, "g711_alaw": 8_000}
MIN_COMMIT_MS = 100
"""OpenAI refuses to commit less than 100 ms of audio."""


def decode_b64(data: str, param: str) -> bytes:
    """Strict base64 audio (``InvalidRequest`` with code ``invalid_value`` otherwise)."""
    try:
        return base64.b64decode(data, validate=True)
    except (ValueError, TypeError):
        raise InvalidRequest(
            "Invalid 'audio': the value is not valid base64.", param=param, code="invalid_value"
        ) from None


def to_float(data: bytes, fmt: str) -> np.ndarray:
    """Wire bytes in ``fmt`` -> float32 samples at the format's own rate; raises
    ``InvalidRequest`` for a partial 16-bit sample."""
    if fmt == "pcm16":
        try:
            return pcm16_to_float(data)
        except ValueError:
            raise InvalidRequest(
                "Invalid 'audio': pcm16 audio must be a whole number of "
                "16-bit samples (an even number of bytes).",
                param="audio",
                code="invalid_value",
            ) from None
    return g711_decode(data, fmt)


def to_16k(data: bytes, fmt: str) -> np.ndarray:
    """A whole clip of wire bytes in ``fmt`` -> 16 kHz float32 (as the buffer keeps
    audio); raises ``InvalidRequest`` as ``to_float``."""
    return resample(to_float(data, fmt), INPUT_RATES[fmt], RATE)


@dataclass(frozen=True)
class Committed:
    """Audio taken out of the buffer: 16 kHz samples, the wire bytes, and its span."""

    samples: np.ndarray
    wire: bytes
    start_ms: int
    end_ms: int


class InputBuffer:
    """Audio appended since the last commit or clear, plus the session's VAD stream."""

    def __init__(self, vad_model: SileroVad | None = None) -> None:
        self._vad_model = vad_model
        self._vad_known = vad_model is not None  # else: ``attach_vad`` says
        self._vad_config: VadConfig | None = None
        self._vad: VadStream | None = None
        self._fmt = "pcm16"
        self._resampler = Resampler(24_000, RATE)
        self._chunks: list[np.ndarray] = []
        self._wire: list[bytes] = []
        self.total = 0  # 16 kHz samples appended this session
        self.start = 0  # session sample where the buffer begins

    @property
    def total_ms(self) -> int:
        return self.total * 1000 // RATE

    @property
    def buffered_ms(self) -> int:
        return (self.total - self.start) * 1000 // RATE

    def configure(self, fmt: str, vad: VadConfig | None) -> None:
        """Input format and server VAD (``None``: push-to-talk). A new format restarts
        resampling; VAD keeps its state across parameter changes."""
        if fmt != self._fmt:
            self._fmt = fmt
            self._resampler = Resampler(INPUT_RATES[fmt], RATE)
        self._vad_config = vad
        if vad is None or self._vad_model is None:
            self._vad = None
        elif self._vad is None:
            self._vad = _OffsetVad(self._vad_model, vad, self.total_ms)
        else:
            self._vad.config = vad

    @property
    def needs_vad_model(self) -> bool:
        """Server VAD is on but its model was not given yet (``attach_vad``)."""
        return self._vad_config is not None and not self._vad_known

    def attach_vad(self, model: SileroVad | None) -> None:
        """The VAD model, once loaded (None: none available, no server VAD); audio
        appended from now on is judged."""
        self._vad_model, self._vad_known = model, True
        self.configure(self._fmt, self._vad_config)

    def append(self, audio_b64: str) -> list[VadEvent]:
        """Add base64 audio; the VAD events it completes. Raises ``InvalidRequest``."""
        data = decode_b64(audio_b64, "audio")
        samples = self._resampler.push(to_float(data, self._fmt))
        self._chunks.append(samples)
        self._wire.append(data)
        self.total += samples.size
        return self._vad.feed(samples) if self._vad is not None else []

    def commit(self, from_ms: int | None = None) -> Committed:
        """Take the buffer (from ``from_ms`` on, if later than its start). Raises
        ``InvalidRequest`` (``input_audio_buffer_commit_empty``) under 100 ms."""
        committed = self.peek(from_ms)
        self.clear()
        return committed

    def peek(self, from_ms: int | None = None) -> Committed:
        """What ``commit`` would take, leaving the buffer as it is."""
        if self.buffered_ms < MIN_COMMIT_MS:
            raise InvalidRequest(
                f"Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {self.buffered_ms:.2f}ms "
                "of audio.",
                code="input_audio_buffer_commit_empty",
            )
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        wire = b"".join(self._wire)
        skip = 0
        if from_ms is not None:
            skip = max(0, min(from_ms * RATE // 1000 - self.start, samples.size))
        start_ms = (self.start + skip) * 1000 // RATE
        bytes_per_sample = len(wire) / max(samples.size, 1)
        return Committed(
            samples[skip:], wire[int(skip * bytes_per_sample) // 2 * 2 :], start_ms, self.total_ms
        )

    def clear(self) -> None:
        self._chunks, self._wire = [], []
        self.start = self.total

    @property
    def speaking(self) -> bool:
        return self._vad is not None and self._vad.speaking

    @property
    def silence_ms(self) -> int:
        """How long the speaker has been silent within the current turn (VAD)."""
        return self._vad.silence_ms if self._vad is not None else 0

    def trim(self, keep_ms: int) -> None:
        """Drop all but the last ``keep_ms`` (server VAD between turns: only the prefix
        padding can still become part of a turn, so silence does not pile up)."""
        keep = keep_ms * RATE // 1000
        drop = self.total - self.start - keep
        if drop <= RATE:  # trim in steps of at least a second
            return
        samples = np.concatenate(self._chunks)
        wire = b"".join(self._wire)
        cut = int(drop * len(wire) / samples.size) // 2 * 2
        self._chunks, self._wire = [samples[drop:]], [wire[cut:]]
        self.start += drop


class _OffsetVad(VadStream):
    """A VAD stream started mid-session: times shifted to the session timeline."""

    def __init__(self, model: SileroVad, config: VadConfig, offset_ms: int) -> None:
        super().__init__(model, config)
        self._offset = offset_ms

    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        out: list[VadEvent] = []
        for event in super().feed(samples):
            if isinstance(event, SpeechStarted):
                out.append(SpeechStarted(event.audio_start_ms + self._offset))
            else:
                out.append(SpeechStopped(event.audio_end_ms + self._offset))
        return out
