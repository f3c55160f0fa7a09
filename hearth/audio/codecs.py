"""Audio in and out through PyAV (FFmpeg's decoders, encoders, muxers and libswresample).

Samples inside Hearth are mono float32 numpy arrays in [-1, 1]. ``decode`` turns any
container FFmpeg reads into that at the rate a model wants; ``Encoder`` turns a stream of
such chunks into the bytes of one of OpenAI's speech formats, chunk by chunk, so a response
can stream (OpenAI API reference: Audio, "Create speech", ``response_format``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Literal, cast

import av
import numpy as np
from av.audio.resampler import AudioResampler

from hearth.errors import InvalidRequest

SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]

SPEECH_RATE = 24_000
"""OpenAI's speech output rate (Hz); ``pcm`` is raw s16le mono at this rate."""


@dataclass(frozen=True)
class _Container:
    muxer: str | None  # None: raw samples, no container
    codec: str
    media_type: str
    bit_rate: int | None = None
    options: tuple[tuple[str, str], ...] = ()


CONTAINERS: dict[str, _Container] = {
    "mp3": _Container("mp3", "libmp3lame", "audio/mpeg", 64_000),
    # Ogg pages of 100 ms (FFmpeg's default is 1 s) so opus streams without a 1 s stall
    "opus": _Container("ogg", "libopus", "audio/ogg", 32_000, (("page_duration", "100000"),)),
    "aac": _Container("adts", "aac", "audio/aac", 64_000),
    "flac": _Container("flac", "flac", "audio/flac"),
    "wav": _Container("wav", "pcm_s16le", "audio/wav"),
    "pcm": _Container(None, "pcm_s16le", "audio/pcm"),
}
"""Speech ``response_format`` -> how it is written (muxer, encoder, media type)."""


class _Sink(io.RawIOBase):
    """A write-only, non-seekable buffer: muxers then write streamable headers (WAV's
    sizes as 0xFFFFFFFF, as OpenAI's streamed WAV), and ``drain`` hands bytes out."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, b: Any) -> int:
        data = bytes(b)
        self._chunks.append(data)
        return len(data)

    def drain(self) -> bytes:
        out, self._chunks = b"".join(self._chunks), []
        return out


def _frame(samples: np.ndarray, rate: int) -> av.AudioFrame:
    pcm = np.ascontiguousarray(np.clip(samples, -1.0, 1.0), dtype=np.float32)[None, :]
    frame = av.AudioFrame.from_ndarray(pcm, format="flt", layout="mono")
    frame.sample_rate = rate
    return frame


class Encoder:
    """Mono float32 chunks at ``input_rate`` -> bytes of ``fmt`` at 24 kHz, incrementally.

    ``encode(chunk)`` returns whatever bytes are complete so far (possibly ``b""``);
    ``finish()`` flushes the resampler, encoder and muxer trailer. Not thread-safe: one
    encoder per response.
    """

    def __init__(self, fmt: SpeechFormat, input_rate: int, rate: int = SPEECH_RATE) -> None:
        spec = CONTAINERS[fmt]
        self.media_type = spec.media_type
        self._input_rate = input_rate
        self._sink = _Sink()
        self._container: Any = None
        self._stream: Any = None
        if spec.muxer is None:
            self._resampler = AudioResampler(format="s16", layout="mono", rate=rate)
            return
        self._container = av.open(
            self._sink, mode="w", format=spec.muxer, options=dict(spec.options)
        )
        stream = self._container.add_stream(spec.codec, rate=rate, layout="mono")
        if spec.bit_rate:
            stream.bit_rate = spec.bit_rate
        self._stream = stream
        # frame_size: fixed-frame encoders (mp3 1152, aac 1024, opus 480) get whole frames
        self._resampler = AudioResampler(
            format=stream.codec_context.format.name,
            layout="mono",
            rate=rate,
            frame_size=stream.codec_context.frame_size or None,
        )

    def _write(self, frames: list[av.AudioFrame]) -> bytes:
        if self._container is None:
            return b"".join(bytes(f.planes[0])[: f.samples * 2] for f in frames)
        for frame in frames:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._sink.drain()

    def encode(self, samples: np.ndarray) -> bytes:
        """Encode one chunk; the bytes complete so far."""
        if samples.size == 0:
            return b""
        return self._write(self._resampler.resample(_frame(samples, self._input_rate)))

    def finish(self) -> bytes:
        """Flush everything; the final bytes. The encoder is closed afterwards."""
        out = self._write(self._resampler.resample(None))
        if self._container is None:
            return out
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return out + self._sink.drain()


def decode(data: bytes, rate: int = 16_000, max_seconds: float | None = None) -> np.ndarray:
    """Any audio FFmpeg can read -> mono float32 samples at ``rate`` Hz (shape ``(n,)``).

    Raises ``InvalidRequest`` (param ``file``) for bytes that are not audio, a container
    without an audio stream, audio that decodes to nothing, or audio longer than
    ``max_seconds`` (checked while decoding: a small file of near-silence can expand to
    gigabytes of samples).
    """
    cap = None if max_seconds is None else int(max_seconds * rate)
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InvalidRequest(
                    "The file has no audio stream.", param="file", code="invalid_value"
                )
            stream = container.streams.audio[0]
            resampler = AudioResampler(format="flt", layout="mono", rate=rate)
            parts: list[np.ndarray] = []
            for frame in container.decode(stream):
                frame.pts = None  # some containers carry broken timestamps
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray()[0])
                    total += out.samples
                if cap is not None and total > cap:
                    raise InvalidRequest(
                        f"The audio is longer than the {max_seconds:.0f} seconds this server "
                        "accepts.",
                        param="file",
                        code="audio_too_long",
                    )
            parts += [f.to_ndarray()[0] for f in resampler.resample(None)]
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(
            f"Audio file might be corrupted or unsupported: {_reason(exc)}",
            param="file",
            code="invalid_value",
        ) from None
    if not parts or sum(p.size for p in parts) == 0:
        raise InvalidRequest(
            "Audio file might be corrupted or unsupported: it decodes to no audio samples.",
            param="file",
            code="invalid_value",
        )
    return cast(np.ndarray, np.concatenate(parts).astype(np.float32, copy=False))


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if text.endswith(".") else text + "."


class Resampler:
    """Stateful mono float32 resampling (libswresample) for audio that arrives in pieces:
    ``push`` returns what is ready, ``flush`` the rest."""

    def __init__(self, input_rate: int, output_rate: int) -> None:
        self._input_rate = input_rate
        self._same = input_rate == output_rate
        self._resampler = AudioResampler(format="flt", layout="mono", rate=output_rate)

    def _out(self, frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return np.zeros(0, dtype=np.float32)
        return cast(np.ndarray, np.concatenate([f.to_ndarray()[0] for f in frames]))

    def push(self, samples: np.ndarray) -> np.ndarray:
        if self._same or samples.size == 0:
            return samples.astype(np.float32, copy=False)
        return self._out(self._resampler.resample(_frame(samples, self._input_rate)))

    def flush(self) -> np.ndarray:
        return (
            np.zeros(0, dtype=np.float32)
            if self._same
            else self._out(self._resampler.resample(None))
        )


def resample(samples: np.ndarray, input_rate: int, output_rate: int) -> np.ndarray:
    """Resample a whole mono float32 clip at once (``Resampler`` for a stream)."""
    resampler = Resampler(input_rate, output_rate)
    return np.concatenate([resampler.push(samples), resampler.flush()])


def pcm16_to_float(data: bytes) -> np.ndarray:
    """Raw s16le mono bytes -> float32 samples in [-1, 1). Raises ``ValueError`` for an
    odd number of bytes."""
    if len(data) % 2:
        raise ValueError("16-bit PCM needs an even number of bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 samples -> raw s16le mono bytes (clipped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


G711_RATE = 8_000
_G711 = {"g711_ulaw": "pcm_mulaw", "g711_alaw": "pcm_alaw"}


def g711_decode(data: bytes, law: str) -> np.ndarray:
    """ITU-T G.711 bytes (``g711_ulaw`` / ``g711_alaw``, 8 kHz, one byte per sample) ->
    float32 samples at 8 kHz, by FFmpeg's ``pcm_mulaw`` / ``pcm_alaw`` decoders."""
    decoder: Any = av.CodecContext.create(_G711[law], "r")  # an AudioCodecContext
    decoder.sample_rate = G711_RATE
    decoder.layout = "mono"
    frames = decoder.decode(av.Packet(data)) if data else []
    pcm = b"".join(bytes(f.planes[0])[: f.samples * 2] for f in frames)
    return pcm16_to_float(pcm)


def g711_encode(samples: np.ndarray, law: str) -> bytes:
    """float32 samples at 8 kHz -> G.711 bytes (``g711_ulaw`` / ``g711_alaw``)."""
    if samples.size == 0:
        return b""
    encoder: Any = av.CodecContext.create(_G711[law], "w")
    encoder.sample_rate = G711_RATE
    encoder.layout = "mono"
    encoder.format = "s16"
    pcm = np.frombuffer(float_to_pcm16(samples), dtype="<i2")[None, :]
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = G711_RATE
    return b"".join(bytes(p) for p in [*encoder.encode(frame), *encoder.encode(None)])
