"""Speech-to-text with faster-whisper (Whisper on CTranslate2, int8 on CPU).

Whisper's decoding follows the paper (Radford et al., 2022, "Robust Speech Recognition
via Large-Scale Weak Supervision", section 4.5): temperature 0 means fall back to 0.2,
0.4, ... 1.0 when a window's compression ratio or mean logprob fails, as OpenAI's API
does for ``temperature: 0``; any other temperature is used alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hearth.errors import InvalidRequest

SAMPLE_RATE = 16_000
"""Whisper's input rate (Hz)."""

FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)

Task = Literal["transcribe", "translate"]


@dataclass(frozen=True)
class Word:
    """One word: text (with its leading space), start/end in seconds, probability."""

    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Segment:
    """One decoded window, as OpenAI's verbose_json segment (times in seconds)."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: list[Word] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    """One request's decoding options (``language``: ISO-639-1 or None to detect)."""

    task: Task = "transcribe"
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False
    beam_size: int = 5


@dataclass
class Transcript:
    """The detected (or given) language, the audio's duration (s) and the segments, lazily
    decoded: iterate ``segments`` on a worker thread."""

    language: str
    duration: float
    segments: Iterator[Segment]
    language_probability: float = 1.0
    """How sure the detection was (1.0 for a given language)."""


class WhisperSTT:
    """A loaded CTranslate2 Whisper model directory."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        from faster_whisper import WhisperModel  # heavy: ctranslate2

        # one transcription at a time per model (num_workers=1): a second worker would
        # be a second copy of the weights, and on few cores it only splits the same CPUs
        self._model = WhisperModel(
            str(path),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads or os.cpu_count() or 0,
            num_workers=1,
        )
        self.multilingual: bool = bool(self._model.model.is_multilingual)
        tokens = self._model.hf_tokenizer
        # faster-whisper lists every Whisper code; older checkpoints lack some (yue)
        self.languages = frozenset(
            code
            for code in self._model.supported_languages
            if tokens.token_to_id(f"<|{code}|>") is not None
        )

    def transcribe(self, audio: np.ndarray, options: Options) -> Transcript:
        """Decode 16 kHz mono float32 ``audio``; language detection (when ``language`` is
        None) runs here, the segments as they are iterated. Raises ``InvalidRequest`` for
        a language this checkpoint does not know."""
        if options.language is not None and options.language not in self.languages:
            raise InvalidRequest(
                f"Language '{options.language}' is not supported by this model.",
                param="language",
                code="unsupported_value",
            )
        temperature = FALLBACK_TEMPERATURES if options.temperature == 0 else (options.temperature,)
        segments, info = self._model.transcribe(
            audio,
            language=options.language,
            task=options.task,
            beam_size=options.beam_size,
            temperature=temperature,
            initial_prompt=options.prompt or None,
            word_timestamps=options.word_timestamps,
        )
        return Transcript(
            info.language,
            float(info.duration),
            _segments(segments),
            float(info.language_probability),
        )


def _segments(raw: Iterator[Any]) -> Iterator[Segment]:
    for index, s in enumerate(raw):
        words = [
            Word(w.word, float(w.start), float(w.end), float(w.probability))
            for w in (getattr(s, "words", None) or [])
        ]
        yield Segment(
            index,
            int(s.seek),
            float(s.start),
            float(s.end),
            s.text,
            list(s.tokens),
            float(s.temperature),
            float(s.avg_logprob),
            float(s.compression_ratio),
            float(s.no_speech_prob),
            words,
        )
