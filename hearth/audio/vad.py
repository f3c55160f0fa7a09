"""Voice activity detection with Silero VAD (the ONNX model faster-whisper ships), run as a
stream with OpenAI's ``server_vad`` parameters (API reference: Realtime, session
``turn_detection``: ``threshold``, ``prefix_padding_ms``, ``silence_duration_ms``).

Audio is judged in 32 ms windows (512 samples at 16 kHz) with the model's recurrent state
carried from window to window. Speech starts at the first window whose probability
reaches ``threshold``; it stops once windows stay below ``threshold - 0.15`` (Silero's
own hysteresis) for ``silence_duration_ms``. Times are milliseconds since the stream
began, as OpenAI's ``audio_start_ms`` / ``audio_end_ms``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16_000
WINDOW = 512  # samples per judgement (32 ms)
_CONTEXT = 64  # samples of the previous window the model sees
WINDOW_MS = WINDOW * 1000 // RATE


@dataclass(frozen=True)
class VadConfig:
    """OpenAI's ``server_vad`` knobs (defaults as OpenAI's)."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


def silero_path() -> Path:
    """The Silero VAD ONNX file inside faster-whisper's package."""
    from faster_whisper.utils import get_assets_path

    return Path(get_assets_path()) / "silero_vad_v6.onnx"


class SileroVad:
    """The loaded model; ``stream(config)`` starts an independent detector (thread-safe:
    ONNX Runtime sessions may run concurrently)."""

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(path or silero_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def probabilities(
        self, windows: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Speech probability per row of ``windows`` (``(n, 576)``: 64 context + 512)."""
        probs, h, c = self._session.run(None, {"input": windows, "h": h, "c": c})
        return np.asarray(probs).reshape(-1), h, c

    def stream(self, config: VadConfig) -> VadStream:
        return VadStream(self, config)


class VadStream:
    """One audio stream's detector: ``feed`` 16 kHz float32 samples in any sizes, get the
    speech starts and stops they complete."""

    def __init__(self, model: SileroVad, config: VadConfig) -> None:
        self.config = config
        self._model = model
        self._pending = np.zeros(0, dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._windows = 0  # windows judged so far
        self.speaking = False
        self._silent_windows = 0

    @property
    def position_ms(self) -> int:
        """Milliseconds of audio judged so far."""
        return self._windows * WINDOW_MS

    @property
    def silence_ms(self) -> int:
        """While speaking: how long the current run of non-speech windows has lasted."""
        return self._silent_windows * WINDOW_MS if self.speaking else 0

    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        self._pending = np.concatenate([self._pending, samples.astype(np.float32)])
        n = self._pending.size // WINDOW
        if n == 0:
            return []
        chunk, self._pending = self._pending[: n * WINDOW], self._pending[n * WINDOW :]
        windows = chunk.reshape(n, WINDOW)
        context = np.concatenate([self._context[None, :], windows[:-1, -_CONTEXT:]])
        self._context = windows[-1, -_CONTEXT:].copy()
        probs, self._h, self._c = self._model.probabilities(
            np.concatenate([context, windows], axis=1), self._h, self._c
        )
        return [e for p in probs if (e := self._judge(float(p))) is not None]

    def _judge(self, prob: float) -> VadEvent | None:
        start_ms = self._windows * WINDOW_MS
        self._windows += 1
        config = self.config
        if not self.speaking:
            if prob >= config.threshold:
                self.speaking, self._silent_windows = True, 0
                return SpeechStarted(start_ms)
            return None
        if prob >= max(config.threshold - 0.15, 0.01):
            self._silent_windows = 0
            return None
        self._silent_windows += 1
        if self._silent_windows * WINDOW_MS >= config.silence_duration_ms:
            self.speaking = False
            return SpeechStopped(start_ms + WINDOW_MS - self._silent_windows * WINDOW_MS)
        return None
