"""Speaking a response as the model writes it: each finished sentence is synthesized by
Piper on an audio worker while the model goes on, and sent in order."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

import numpy as np

from hearth.audio.codecs import G711_RATE, float_to_pcm16, g711_encode, resample
from hearth.audio.registry import AudioRegistry
from hearth.services.realtime.items import OUTPUT_RATE
from hearth.services.realtime.sentences import SentenceSplitter

Send = Callable[[str, bytes, int], None]
"""``send(text, wire_bytes, samples_at_24khz)`` for each synthesized piece, in order."""


class Speaker:
    """Sentences of one response, synthesized in order on audio workers; raises
    ``InvalidRequest`` at construction for a voice this server lacks."""

    def __init__(
        self,
        audio: AudioRegistry,
        voice: str,
        speed: float,
        output_format: str,
        send: Send,
        spoken: Callable[[str, int], None] = lambda model, chars: None,
    ) -> None:
        self._workers = audio.workers
        self._slot = audio.tts_voice("tts-1", voice)
        self._speed, self._fmt = speed, output_format
        self._send = send
        self._spoken = spoken  # (model, characters) of each piece synthesized: usage
        self._splitter = SentenceSplitter()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._speak())

    def feed(self, text: str) -> None:
        """More model text; complete pieces are queued for synthesis."""
        for piece in self._splitter.feed(text):
            self._queue.put_nowait(piece)

    async def finish(self) -> None:
        """Synthesize what is left and wait until every piece is sent."""
        rest = self._splitter.flush()
        if rest:
            self._queue.put_nowait(rest)
        self._queue.put_nowait(None)
        await self._task
        self._task = asyncio.create_task(self._speak())  # a later message may follow

    def stop(self) -> None:
        """Drop what is queued or being synthesized."""
        self._task.cancel()

    async def _speak(self) -> None:
        while (piece := await self._queue.get()) is not None:
            wire, samples = await self._workers.run(functools.partial(self._synthesize, piece))
            self._spoken("tts-1", len(piece))
            if samples:
                self._send(piece, wire, samples)

    def _synthesize(self, text: str) -> tuple[bytes, int]:
        """On a worker: Piper -> 24 kHz -> the output format's bytes."""
        with self._slot.use() as tts:
            chunks = [c.samples for c in tts.synthesize(text, self._speed)]
            rate = tts.sample_rate
        if not chunks:
            return b"", 0
        voice = np.concatenate(chunks)
        if self._fmt == "pcm16":
            audio = resample(voice, rate, OUTPUT_RATE)
            return float_to_pcm16(audio), audio.size
        # G.711 straight from the voice's rate; positions still count 24 kHz samples
        narrow = resample(voice, rate, G711_RATE)
        return g711_encode(narrow, self._fmt), narrow.size * (OUTPUT_RATE // G711_RATE)
