"""``client.audio.speech.create`` (OpenAI API reference: Audio, "Create speech").

Synthesis runs sentence by sentence on an audio worker and each sentence is encoded as
soon as it exists, so the body streams: with ``stream_format: "audio"`` the bytes of one
file in ``response_format``; with ``"sse"`` ``speech.audio.delta`` events carrying those
bytes base64-encoded, then ``speech.audio.done`` with usage.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hearth.audio.codecs import CONTAINERS, Encoder, SpeechFormat
from hearth.audio.registry import AudioRegistry
from hearth.audio.slots import ThreadStream
from hearth.domain import Principal
from hearth.errors import InvalidRequest
from hearth.services.rate_limits import RateLimiter, admit
from hearth.services.usage import UsageMeter

MAX_INPUT_CHARS = 4096


class VoiceId(BaseModel):
    """A voice given as an object: ``{"id": "<voice>"}``."""

    model_config = ConfigDict(extra="forbid")
    id: str


class SpeechParams(BaseModel):
    """The JSON body of ``POST /v1/audio/speech``."""

    model_config = ConfigDict(extra="allow")

    model: str
    input: str
    voice: str | VoiceId
    instructions: str | None = None
    response_format: SpeechFormat = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio", "sse"] = "audio"


class AudioDelta(BaseModel):
    """SSE ``speech.audio.delta``: base64 audio bytes."""

    type: Literal["speech.audio.delta"] = "speech.audio.delta"
    audio: str


class SpeechUsage(BaseModel):
    """Tokens of a speech request: phoneme ids in, audio frames (Piper hops) out."""

    input_tokens: int
    output_tokens: int
    total_tokens: int


class AudioDone(BaseModel):
    """SSE ``speech.audio.done``."""

    type: Literal["speech.audio.done"] = "speech.audio.done"
    usage: SpeechUsage


@dataclass
class SpeechResponse:
    """What the route sends: ``media_type`` and a body of bytes (``stream_format:
    audio``) or of SSE events (``sse``)."""

    media_type: str
    audio: AsyncIterator[bytes] | None = None
    events: AsyncIterator[BaseModel] | None = None


_HOP = 256  # Piper's samples per output frame (hop length), for usage


class Speech:
    """Text-to-speech over the registry's voices."""

    def __init__(
        self,
        audio: AudioRegistry,
        meter: UsageMeter | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._audio = audio
        self._meter = meter
        self._limiter = limiter

    async def create(self, caller: Principal, params: SpeechParams) -> SpeechResponse:
        """``client.audio.speech.create``: validate, start synthesis and wait for its
        first audio (so errors come before the first byte). Raises
        ``InvalidRequest`` (400: input empty or over 4,096 characters, unknown voice),
        ``ModelNotFound`` (404), ``RateLimited`` (429: too many audio jobs) or
        ``ServiceUnavailable`` (503: the voice failed to load)."""
        if not params.input.strip():
            raise InvalidRequest(
                "Invalid 'input': the text is empty.", param="input", code="invalid_value"
            )
        if len(params.input) > MAX_INPUT_CHARS:
            raise InvalidRequest(
                f"Invalid 'input': string too long. Expected a string with maximum length "
                f"{MAX_INPUT_CHARS}, but got a string with length {len(params.input)} "
                "instead.",
                param="input",
                code="string_above_max_length",
            )
        voice_name = params.voice if isinstance(params.voice, str) else params.voice.id
        slot = self._audio.tts_voice(params.model, voice_name)
        await admit(self._limiter, caller, params.model)
        text, speed, fmt = params.input, params.speed, params.response_format

        def produce(emit: Callable[[bytes | SpeechUsage], None]) -> None:
            phonemes = samples = 0
            with slot.use() as tts:
                encoder = Encoder(fmt, tts.sample_rate)
                for chunk in tts.synthesize(text, speed):
                    phonemes += chunk.phonemes
                    samples += chunk.samples.size
                    data = encoder.encode(chunk.samples)
                    if data:
                        emit(data)
            if samples == 0:  # e.g. only emoji or punctuation: nothing a voice can say
                raise InvalidRequest(
                    "Invalid 'input': the text has nothing to speak.",
                    param="input",
                    code="invalid_value",
                )
            emit(encoder.finish())
            frames = samples // _HOP
            emit(
                SpeechUsage(
                    input_tokens=phonemes, output_tokens=frames, total_tokens=phonemes + frames
                )
            )

        # errors before the first byte become plain 4xx/5xx
        items = await ThreadStream(self._audio.workers, produce).started()
        if self._meter is not None:
            self._meter.record(caller, "audio_speeches", params.model, characters=len(text))
        if params.stream_format == "sse":
            return SpeechResponse("text/event-stream", events=_events(items))
        return SpeechResponse(CONTAINERS[fmt].media_type, audio=_audio(items))


async def _audio(items: AsyncGenerator[bytes | SpeechUsage, None]) -> AsyncIterator[bytes]:
    async with aclosing(items):
        async for item in items:
            if isinstance(item, bytes) and item:
                yield item


async def _events(items: AsyncGenerator[bytes | SpeechUsage, None]) -> AsyncIterator[BaseModel]:
    async with aclosing(items):
        async for item in items:
            if isinstance(item, SpeechUsage):
                yield AudioDone(type="speech.audio.done", usage=item)
            elif item:
                yield AudioDelta(type="speech.audio.delta", audio=base64.b64encode(item).decode())
