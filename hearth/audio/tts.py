"""Text-to-speech with Piper (piper-tts, VITS voices as ONNX; GPL-3.0-or-later library).

``PiperTTS.synthesize`` yields one float32 chunk per sentence (Piper splits sentences
with espeak-ng), so a caller can encode and send the first sentence while the rest is
still being synthesized.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hearth.audio.weights import VoiceSource


@dataclass(frozen=True)
class SpeechChunk:
    """One sentence of audio: mono float32 ``samples`` at ``rate`` Hz, and the number of
    phoneme ids it came from (``phonemes``, the synthesis input size)."""

    samples: np.ndarray
    rate: int
    phonemes: int


class PiperTTS:
    """A loaded Piper voice."""

    def __init__(self, source: VoiceSource) -> None:
        from piper import PiperVoice  # heavy: onnxruntime

        self.name = source.name
        self._voice = PiperVoice.load(source.model, config_path=source.config)
        self.sample_rate: int = self._voice.config.sample_rate
        self._length_scale = self._voice.config.length_scale

    def synthesize(self, text: str, speed: float = 1.0) -> Iterator[SpeechChunk]:
        """Audio for ``text`` sentence by sentence; ``speed`` (0.25-4.0) divides Piper's
        phoneme durations (``length_scale``), so pitch is unchanged."""
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=self._length_scale / speed)
        for chunk in self._voice.synthesize(text, syn_config=config):
            yield SpeechChunk(chunk.audio_float_array, chunk.sample_rate, len(chunk.phoneme_ids))
