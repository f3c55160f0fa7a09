"""Transcribing user audio items with Whisper on an audio worker (API reference:
Realtime, ``conversation.item.input_audio_transcription.*``). The model always reads the
transcript; the client sees the transcription events only when the session asked for
``transcription``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import numpy as np

from hearth.audio.stt import Options
from hearth.errors import HearthError
from hearth.services.realtime.audio_in import RATE
from hearth.services.realtime.events import realtime_error
from hearth.services.realtime.items import Item, Part

if TYPE_CHECKING:
    from hearth.services.realtime.session import RealtimeSession


def transcribe(
    session: RealtimeSession, item: Item, part: Part, guess: asyncio.Task[str] | None = None
) -> None:
    """Start transcribing ``part`` of ``item`` (``guess``: a transcription of the same
    audio already under way); ``item.transcribed`` resolves to the text ("" on
    failure)."""
    item.transcribed = asyncio.get_running_loop().create_future()
    session.spawn(_run(session, item, part, guess))


async def stt(session: RealtimeSession, samples: np.ndarray) -> str:
    """Whisper (greedy) on 16 kHz ``samples`` with the session's transcription settings,
    on an audio worker."""
    spec = session.config.transcription or {}
    audio = session.ctx.audio
    slot = audio.stt_model(spec.get("model") or session.deps.stt_model)
    options = Options(language=spec.get("language"), prompt=spec.get("prompt"), beam_size=1)

    def work() -> str:
        with slot.use() as model:
            result = model.transcribe(samples, options)
            return "".join(s.text for s in result.segments).strip()

    return await audio.workers.run(work)


async def _run(
    session: RealtimeSession, item: Item, part: Part, guess: asyncio.Task[str] | None
) -> None:
    assert item.transcribed is not None and part.audio is not None
    shown = session.config.transcription  # None: transcribe for the model, show nothing
    samples = part.audio
    try:
        transcript = await (guess if guess is not None else stt(session, samples))
    except HearthError as exc:
        item.transcribed.set_result("")
        if shown is not None:
            session.emit(
                {
                    "type": "conversation.item.input_audio_transcription.failed",
                    "item_id": item.id,
                    "content_index": 0,
                    "error": realtime_error(exc).model_dump(exclude={"event_id"}),
                }
            )
        return
    except BaseException:  # cancelled (session closing): answer with nothing
        item.transcribed.set_result("")
        raise
    part.transcript = transcript
    part.audio = None  # only Whisper needed it; the client's bytes stay for retrieve
    item.transcribed.set_result(transcript)
    if shown is not None:
        session.emit(
            {
                "type": "conversation.item.input_audio_transcription.delta",
                "item_id": item.id,
                "content_index": 0,
                "delta": transcript,
            }
        )
        session.emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item.id,
                "content_index": 0,
                "transcript": transcript,
                "usage": {"type": "duration", "seconds": round(samples.size / RATE, 3)},
            }
        )
