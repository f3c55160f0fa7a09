"""``client.audio.transcriptions.create`` and ``client.audio.translations.create``
(OpenAI API reference: Audio, "Create transcription" / "Create translation").

Decoding (PyAV) and recognition (faster-whisper) run on an audio worker. Non-streamed
results render as ``json`` / ``text`` / ``srt`` / ``verbose_json`` / ``vtt``; with
``stream: true`` each decoded segment is one ``transcript.text.delta`` event and the end
is ``transcript.text.done``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal, TypeVar

from openai.types.audio import (
    Transcription,
    TranscriptionSegment,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionVerbose,
    TranscriptionWord,
    Translation,
    TranslationVerbose,
    transcription_verbose,
)
from openai.types.audio import transcription_text_delta_event as delta_event
from openai.types.audio import transcription_text_done_event as done_event
from openai.types.audio.transcription import Logprob, UsageDuration
from pydantic import BaseModel, ConfigDict, Field

from hearth.audio.codecs import decode
from hearth.audio.languages import LANGUAGES, language_name
from hearth.audio.registry import AudioRegistry
from hearth.audio.slots import LazyModel, ThreadStream
from hearth.audio.stt import SAMPLE_RATE, Options, Segment, Task, WhisperSTT, Word
from hearth.config import AudioSettings
from hearth.domain import Principal
from hearth.errors import InvalidRequest, ServiceUnavailable
from hearth.services.audio.formats import joined_text, srt, vtt
from hearth.services.rate_limits import RateLimiter, admit
from hearth.services.usage import UsageMeter

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]

INPUT_FORMATS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
"""Upload extensions OpenAI accepts (any of them is decoded by FFmpeg, whatever it holds)."""


class TranslationParams(BaseModel):
    """Form fields of ``POST /v1/audio/translations`` (values arrive as strings and are
    converted, as form data must be)."""

    model_config = ConfigDict(extra="allow")

    model: str
    prompt: str | None = None
    response_format: ResponseFormat = "json"
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)


class TranscriptionParams(TranslationParams):
    """Form fields of ``POST /v1/audio/transcriptions``."""

    language: str | None = None
    timestamp_granularities: list[Literal["word", "segment"]] = Field(default_factory=list)
    include: list[Literal["logprobs"]] = Field(default_factory=list)
    stream: bool = False


@dataclass(frozen=True)
class Upload:
    """The uploaded audio: client file name and bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Rendered:
    """A finished result: an SDK model (JSON) or text (``text/plain``)."""

    body: BaseModel | str


@dataclass
class _Result:
    language: str
    duration: float
    segments: list[Segment]


def check_upload(upload: Upload) -> None:
    """400 for an empty file or an extension outside ``INPUT_FORMATS``."""
    if not upload.data:
        raise InvalidRequest("The audio file is empty.", param="file", code="invalid_value")
    name = upload.filename.lower()
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    if ext and ext not in INPUT_FORMATS:
        raise InvalidRequest(
            f"Invalid file format. Supported formats: {list(INPUT_FORMATS)}",
            param="file",
            code="invalid_value",
        )


def _usage(duration: float) -> UsageDuration:
    return UsageDuration(type="duration", seconds=float(math.ceil(duration)))


L = TypeVar("L", Logprob, delta_event.Logprob, done_event.Logprob)


def _logprobs(words: list[Word], kind: type[L] = Logprob) -> list[L]:  # type: ignore[assignment]
    """Whisper's word probabilities as OpenAI's ``logprobs`` entries (one per word)."""
    return [
        kind.model_validate(
            {
                "token": w.word,
                "bytes": list(w.word.encode()),
                "logprob": math.log(max(w.probability, 1e-12)),
            }
        )
        for w in words
    ]


def _segment(s: Segment) -> TranscriptionSegment:
    return TranscriptionSegment(
        id=s.id,
        seek=s.seek,
        start=s.start,
        end=s.end,
        text=s.text,
        tokens=s.tokens,
        temperature=s.temperature,
        avg_logprob=s.avg_logprob,
        compression_ratio=s.compression_ratio,
        no_speech_prob=s.no_speech_prob,
    )


class Transcriptions:
    """Speech-to-text and speech-to-English over the registry's Whisper models."""

    def __init__(
        self,
        audio: AudioRegistry,
        settings: AudioSettings,
        meter: UsageMeter | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._audio = audio
        self._meter = meter
        self._limiter = limiter
        self._beam_size = settings.stt_beam_size
        self._max_seconds = settings.max_audio_seconds
        self._max_upload_bytes = int(settings.max_upload_mb * 1_000_000)

    @property
    def max_upload_bytes(self) -> int:
        """Largest audio upload in bytes (``max_upload_mb``)."""
        return self._max_upload_bytes

    def _options(
        self, params: TranslationParams, task: Task
    ) -> tuple[Options, LazyModel[WhisperSTT]]:
        """The decoding options and the Whisper model for a request; 400/404 on bad ones."""
        slot = self._audio.stt_model(params.model)
        language = getattr(params, "language", None) or None
        granularities = getattr(params, "timestamp_granularities", [])
        include = getattr(params, "include", [])
        if getattr(params, "stream", False) and params.response_format not in ("json", "text"):
            raise InvalidRequest(
                f"Streaming is not supported for response_format "
                f"'{params.response_format}'; use 'json' or 'text'.",
                param="stream",
                code="unsupported_value",
            )
        if granularities and params.response_format != "verbose_json":
            raise InvalidRequest(
                "timestamp_granularities requires response_format 'verbose_json'.",
                param="timestamp_granularities",
                code="unsupported_value",
            )
        if language is not None:
            language = language.lower()
            if language not in LANGUAGES:
                raise InvalidRequest(
                    f"Invalid language '{language}'. Language parameter "
                    "must be specified in ISO-639-1 format.",
                    param="language",
                    code="invalid_value",
                )
        english_only = slot.name.endswith(".en")
        if english_only and task == "translate":
            raise InvalidRequest(
                f"The model `{params.model}` is English-only and cannot "
                "translate; use whisper-1 or whisper-base.",
                param="model",
                code="unsupported_value",
            )
        if english_only and language not in (None, "en"):
            raise InvalidRequest(
                f"The model `{params.model}` is English-only; language "
                f"'{language}' needs whisper-1 or whisper-base.",
                param="language",
                code="unsupported_value",
            )
        return Options(
            task=task,
            language="en" if english_only else language,
            prompt=params.prompt,
            temperature=params.temperature,
            word_timestamps="word" in granularities or "logprobs" in include,
            beam_size=self._beam_size,
        ), slot

    async def create(
        self,
        caller: Principal,
        params: TranscriptionParams,
        upload: Upload,
        *,
        stop: threading.Event | None = None,
    ) -> Rendered:
        """``client.audio.transcriptions.create`` (not streamed): recognize ``upload`` and
        render it per ``response_format`` (``Transcription`` / ``TranscriptionVerbose`` or
        text); setting ``stop`` (the client left) ends the work at the next segment.
        Raises ``InvalidRequest`` (400: bad file or options), ``ModelNotFound`` (404),
        ``RateLimited`` (429) or ``ServiceUnavailable`` (503: model failed to load, or
        stopped)."""
        return await self._recognize(caller, params, upload, "transcribe", stop)

    async def translate(
        self,
        caller: Principal,
        params: TranslationParams,
        upload: Upload,
        *,
        stop: threading.Event | None = None,
    ) -> Rendered:
        """``client.audio.translations.create``: speech in any language as English text
        (``Translation`` / ``TranslationVerbose`` or text); errors and ``stop`` as
        ``create``, and a 400 (``model``) for an English-only model."""
        return await self._recognize(caller, params, upload, "translate", stop)

    async def _recognize(
        self,
        caller: Principal,
        params: TranslationParams,
        upload: Upload,
        task: Task,
        stop: threading.Event | None,
    ) -> Rendered:
        check_upload(upload)
        options, slot = self._options(params, task)
        await admit(self._limiter, caller, params.model)
        workers = self._audio.workers

        def job() -> _Result:
            audio = decode(upload.data, SAMPLE_RATE, self._max_seconds)
            segments: list[Segment] = []
            with slot.use() as stt:
                transcript = stt.transcribe(audio, options)
                for segment in transcript.segments:
                    if stop is not None and stop.is_set():
                        workers.note_cancelled()
                        raise ServiceUnavailable("The request was cancelled.")
                    segments.append(segment)
            return _Result(transcript.language, transcript.duration, segments)

        result = await workers.run(job)
        self._record(caller, params.model, result.duration)
        return _render(params, task, result)

    def _record(self, caller: Principal, model: str, seconds: float) -> None:
        """Count a transcription or translation: its audio's seconds, rounded up."""
        if self._meter is not None:
            self._meter.record(caller, "audio_transcriptions", model, seconds=math.ceil(seconds))

    async def stream(
        self, caller: Principal, params: TranscriptionParams, upload: Upload
    ) -> AsyncIterator[BaseModel]:
        """``client.audio.transcriptions.create`` with ``stream: true``: validate and
        start; the returned iterator yields ``transcript.text.delta`` per segment and then
        ``transcript.text.done``. Errors before the first event raise (as ``create``)."""
        check_upload(upload)
        options, slot = self._options(params, "transcribe")
        await admit(self._limiter, caller, params.model)

        def produce(emit: Callable[[Segment], None]) -> None:
            audio = decode(upload.data, SAMPLE_RATE, self._max_seconds)
            self._record(caller, params.model, audio.size / SAMPLE_RATE)
            with slot.use() as stt:
                for segment in stt.transcribe(audio, options).segments:
                    emit(segment)

        items = await ThreadStream(self._audio.workers, produce).started()
        return _deltas(items, "logprobs" in params.include)


async def _deltas(
    items: AsyncGenerator[Segment, None], want_logprobs: bool
) -> AsyncIterator[BaseModel]:
    done: list[Segment] = []
    async with aclosing(items):
        async for segment in items:
            text = segment.text if done else segment.text.lstrip()
            done.append(segment)
            delta = TranscriptionTextDeltaEvent(type="transcript.text.delta", delta=text)
            if want_logprobs:
                delta.logprobs = _logprobs(segment.words, delta_event.Logprob)
            yield delta
    final = TranscriptionTextDoneEvent(type="transcript.text.done", text=joined_text(done))
    if want_logprobs:
        final.logprobs = _logprobs([w for s in done for w in s.words], done_event.Logprob)
    yield final


def _render(params: TranslationParams, task: Task, result: _Result) -> Rendered:
    text = joined_text(result.segments)
    fmt = params.response_format
    if fmt == "text":
        return Rendered(text + "\n")
    if fmt == "srt":
        return Rendered(srt(result.segments))
    if fmt == "vtt":
        return Rendered(vtt(result.segments))
    usage = _usage(result.duration)
    if fmt == "json":
        if task == "translate":
            return Rendered(Translation(text=text))
        out = Transcription(text=text, usage=usage)
        if "logprobs" in getattr(params, "include", []):
            out.logprobs = _logprobs([w for s in result.segments for w in s.words])
        return Rendered(out)
    segments = [_segment(s) for s in result.segments]
    if task == "translate":
        return Rendered(
            TranslationVerbose(
                duration=result.duration, language="english", text=text, segments=segments
            )
        )
    granularities = getattr(params, "timestamp_granularities", []) or ["segment"]
    verbose = TranscriptionVerbose(
        duration=result.duration,
        language=language_name(result.language),
        text=text,
        usage=transcription_verbose.Usage(type="duration", seconds=usage.seconds),
    )
    if "segment" in granularities:
        verbose.segments = segments
    if "word" in granularities:
        verbose.words = [
            TranscriptionWord(word=w.word.strip(), start=w.start, end=w.end)
            for s in result.segments
            for w in s.words
        ]
    return Rendered(verbose)
