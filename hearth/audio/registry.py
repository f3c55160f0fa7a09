"""The speech models this server offers, loaded lazily, and the workers that run them.

Model ids (``GET /v1/models``): text-to-speech ``piper`` plus OpenAI's ``tts-1``,
``tts-1-hd``, ``gpt-4o-mini-tts`` (all the same Piper voices); speech-to-text
``whisper-tiny.en`` and ``whisper-base`` plus OpenAI's ids mapped onto them
(docs/audio.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hearth.audio.slots import AudioWorkers, LazyModel
from hearth.audio.stt import WhisperSTT
from hearth.audio.tts import PiperTTS
from hearth.audio.weights import (
    BASE,
    TINY_EN,
    VoiceSource,
    bundled_voice,
    has_whisper_base,
    joined_whisper_base,
    parse_voice_spec,
    tiny_en_dir,
)
from hearth.config import AudioSettings
from hearth.errors import InvalidRequest, ModelNotFound

log = logging.getLogger(__name__)

TTS_MODELS = ("piper", "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15")
"""Text-to-speech model ids; OpenAI's all speak with the configured Piper voices."""

OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)

DEFAULT_STT_ALIASES = {
    "whisper-1": BASE,
    "gpt-4o-transcribe": BASE,
    "gpt-4o-mini-transcribe": TINY_EN,
}


@dataclass(frozen=True)
class AudioModel:
    """A model id in ``GET /v1/models``: ``kind`` is ``"tts"`` or ``"stt"``."""

    id: str
    kind: str
    created: int


class AudioRegistry:
    """Voices and Whisper models by name, each a ``LazyModel``; ``close()`` stops the
    idle sweep and the workers."""

    def __init__(
        self,
        voices: dict[str, LazyModel[PiperTTS]],
        voice_map: dict[str, str],
        whisper: dict[str, LazyModel[WhisperSTT]],
        aliases: dict[str, str],
        workers: AudioWorkers,
        created: int,
        sweep_every: float,
    ) -> None:
        self.voices = voices
        self.voice_map = voice_map
        self.whisper = whisper
        # default aliases of a model that is not installed are dropped
        self.aliases = {a: t for a, t in aliases.items() if t in whisper}
        self.workers = workers
        self._created = created
        self._stop = threading.Event()
        self._sweeper = threading.Thread(
            target=self._sweep_loop, args=(sweep_every,), name="hearth-audio-sweep", daemon=True
        )
        self._sweeper.start()

    @classmethod
    def build(
        cls, settings: AudioSettings, clock: Callable[[], float] = time.monotonic
    ) -> AudioRegistry:
        """Find the bundled and configured models (nothing is loaded yet). Raises
        ``ValueError`` for a configured voice file that is missing or a voice map entry
        naming an unknown voice."""
        idle = settings.idle_unload
        sources: list[VoiceSource] = []
        bundled = bundled_voice() if settings.enabled else None
        if bundled is not None:
            sources.append(bundled)
        sources += [parse_voice_spec(spec) for spec in settings.tts_voices]
        voices = {s.name: LazyModel(s.name, _voice_loader(s), idle, clock) for s in sources}
        voice_map = {v: sources[0].name for v in OPENAI_VOICES} if sources else {}
        for openai_voice, name in settings.tts_voice_map.items():
            if name not in voices:
                raise ValueError(
                    f"HEARTH_TTS_VOICE_MAP: {openai_voice} -> unknown voice "
                    f"{name!r} (have: {', '.join(voices) or 'none'})"
                )
            voice_map[openai_voice] = name
        whisper: dict[str, LazyModel[WhisperSTT]] = {}
        cache = settings.model_cache_dir
        threads = settings.threads
        tiny = tiny_en_dir() if settings.enabled else None
        if tiny is not None:
            whisper[TINY_EN] = LazyModel(TINY_EN, lambda: WhisperSTT(tiny, threads), idle, clock)
        if settings.enabled and has_whisper_base():
            whisper[BASE] = LazyModel(
                BASE, lambda: WhisperSTT(joined_whisper_base(cache), threads), idle, clock
            )
        for alias, target in settings.model_aliases.items():
            if target not in whisper:
                raise ValueError(
                    f"HEARTH_AUDIO_MODEL_ALIASES: {alias} -> unknown model "
                    f"{target!r} (have: {', '.join(whisper) or 'none'})"
                )
        aliases = {**DEFAULT_STT_ALIASES, **settings.model_aliases}
        workers = AudioWorkers(settings.workers, settings.max_waiting)
        created = int(sources[0].model.stat().st_mtime) if sources else int(time.time())
        return cls(
            voices, voice_map, whisper, aliases, workers, created, sweep_every=min(30.0, idle / 4)
        )

    def models(self) -> list[AudioModel]:
        """Every speech model id offered (none when no voice / Whisper is installed)."""
        out = [AudioModel(m, "tts", self._created) for m in TTS_MODELS] if self.voices else []
        out += [AudioModel(m, "stt", self._created) for m in self.whisper]
        out += [AudioModel(m, "stt", self._created) for m in self.aliases]
        return out

    def tts_voice(self, model: str, voice: str) -> LazyModel[PiperTTS]:
        """The voice for a speech request. Raises ``ModelNotFound`` (``model``) or
        ``InvalidRequest`` (``voice``)."""
        if model not in TTS_MODELS or not self.voices:
            raise ModelNotFound(
                f"The model `{model}` does not exist or you do not have access to it.",
                param="model",
            )
        name = self.voice_map.get(voice, voice)
        if name not in self.voices:
            choices = sorted({*self.voice_map, *self.voices})
            raise InvalidRequest(
                f"Invalid value: '{voice}'. Supported voices are: {', '.join(choices)}.",
                param="voice",
                code="invalid_value",
            )
        return self.voices[name]

    def stt_model(self, model: str) -> LazyModel[WhisperSTT]:
        """The Whisper model served as ``model`` (an id or an alias); ``ModelNotFound``."""
        name = self.aliases.get(model, model)
        if name not in self.whisper:
            raise ModelNotFound(
                f"The model `{model}` does not exist or you do not have access to it.",
                param="model",
            )
        return self.whisper[name]

    def sweep(self) -> list[str]:
        """Unload every model idle past ``audio_idle_unload``; the names unloaded."""
        slots: list[LazyModel[Any]] = [*self.voices.values(), *self.whisper.values()]
        return [s.name for s in slots if s.unload_if_idle()]

    def _sweep_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            self.sweep()

    def stats(self) -> dict[str, Any]:
        """Load state per model and the jobs in flight (``GET /hearth/engine``)."""
        return {
            "models": {
                **{n: s.stats() for n, s in self.voices.items()},
                **{n: s.stats() for n, s in self.whisper.items()},
            },
            "jobs_in_flight": self.workers.in_flight,
            "jobs_cancelled": self.workers.cancelled,
        }

    def close(self) -> None:
        self._stop.set()
        self.workers.close()


def _voice_loader(source: VoiceSource) -> Callable[[], PiperTTS]:
    return lambda: PiperTTS(source)
