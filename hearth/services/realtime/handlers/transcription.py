"""Transcribing user audio items with Whisper on an audio worker (API reference:
Realtime, ``conversation.item.input_audio_transcription.*``). The model always reads a
transcript; the client sees the transcription events only when the session asked for
``transcription``.

Two models may transcribe one turn. The model reads the fast one's text
(``HEARTH_REALTIME_STT_MODEL``, tiny.en: what ``gpt-4o-mini-transcribe`` names), so the
answer starts as soon as it is ready. When the session's transcription model is another
Whisper (``whisper-1`` is base, about 3x slower on 2 cores), that model transcribes the
turn too, once the answer is done (generated and synthesized, well before the client has
played it: so it takes no CPU the answer needs). Its text is what the client gets in
``...transcription.completed`` and the item's ``transcript``. The model keeps reading the
fast text in later turns, so its prompt stays the one it cached.

The session's model is used alone, for the model as well, when the fast one cannot
serve the session: a ``language`` it does not know (tiny.en is English only), or, from
then on, once the session's model has heard a language the fast one did not.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hearth.audio.slots import LazyModel
from hearth.audio.stt import Options, WhisperSTT
from hearth.errors import HearthError
from hearth.services.realtime.audio_in import RATE
from hearth.services.realtime.events import realtime_error
from hearth.services.realtime.items import Item, Part

if TYPE_CHECKING:
    from hearth.services.realtime.session import RealtimeSession

DEFER_LIMIT_S = 30.0
"""Longest wait of the session's own transcription for the answer to be done."""

SURE_LANGUAGE = 0.8
"""Detection probability above which a language the fast model did not hear counts."""


@dataclass(frozen=True)
class Heard:
    """One model's transcript of a turn and the language it heard (ISO-639-1, and how
    sure it was: 1.0 when the session set it)."""

    text: str
    language: str
    probability: float


def transcribe(
    session: RealtimeSession, item: Item, part: Part, guess: asyncio.Task[Heard] | None = None
) -> None:
    """Start transcribing ``part`` of ``item`` (``guess``: the fast model's transcription
    of the same audio, already under way); ``item.transcribed`` resolves to the text the
    model reads ("" on failure)."""
    item.transcribed = asyncio.get_running_loop().create_future()
    session.spawn(_run(session, item, part, guess))


def stt_models(
    session: RealtimeSession,
) -> tuple[LazyModel[WhisperSTT], LazyModel[WhisperSTT] | None]:
    """The Whisper model whose text the chat model reads (the fast one), and the
    session's transcription model when it is another one (aliases resolved: for
    ``gpt-4o-mini-transcribe`` there is one model). Raises ``ModelNotFound`` when
    neither is installed."""
    audio = session.ctx.audio
    spec = session.config.transcription or {}
    wanted = audio.stt_model(spec["model"]) if spec.get("model") else None
    if wanted is not None and session.fast_stt_off:
        return wanted, None
    try:
        fast = audio.stt_model(session.deps.stt_model)
    except HearthError:
        if wanted is None:
            raise
        return wanted, None
    return fast, (wanted if wanted is not None and wanted is not fast else None)


async def stt(
    session: RealtimeSession, samples: np.ndarray, model: LazyModel[WhisperSTT] | None = None
) -> Heard:
    """Whisper (greedy) on 16 kHz ``samples`` with the session's transcription language
    and prompt, on an audio worker (``model``: default the one the chat model reads).
    Raises ``HearthError`` (a model that is missing or will not load, a language it
    lacks)."""
    spec = session.config.transcription or {}
    slot = model if model is not None else stt_models(session)[0]
    options = Options(language=spec.get("language"), prompt=spec.get("prompt"), beam_size=1)

    def work() -> Heard:
        with slot.use() as whisper:
            result = whisper.transcribe(samples, options)
            text = "".join(s.text for s in result.segments).strip()
            return Heard(text, result.language, result.language_probability)

    heard = await session.ctx.audio.workers.run(work)
    seconds = math.ceil(samples.size / RATE)
    session.ctx.record("audio_transcriptions", slot.name, seconds=seconds)
    return heard


async def answer_done(session: RealtimeSession) -> None:
    """Return once the conversation has no response running or about to start (at most
    ``DEFER_LIMIT_S``)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DEFER_LIMIT_S):
            while True:
                run = session.active
                if run is not None and run.task is not None:
                    await asyncio.wait([run.task])
                    await asyncio.sleep(0)  # its done-callback clears session.active
                elif session.answers_pending:  # a turn's answer, not started yet
                    await asyncio.sleep(0.01)
                else:
                    return


async def _run(
    session: RealtimeSession, item: Item, part: Part, guess: asyncio.Task[Heard] | None
) -> None:
    assert item.transcribed is not None and part.audio is not None
    transcribed = item.transcribed
    shown = session.config.transcription  # None: transcribe for the model, show nothing
    samples = part.audio
    try:
        fast, wanted = stt_models(session)
        heard: Heard | None = None
        try:
            heard = await (guess if guess is not None else stt(session, samples, fast))
        except HearthError:
            if wanted is None:
                raise  # else the session's own model may know the language: wait for it
        if wanted is not None:
            if heard is not None:
                part.heard = heard.text
                transcribed.set_result(heard.text)
                await answer_done(session)
            own = await stt(session, samples, wanted)
            if heard is not None and own.language != heard.language:
                session.fast_stt_off |= own.probability >= SURE_LANGUAGE
            heard = own
    except HearthError as exc:
        if not transcribed.done():
            transcribed.set_result("")
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
        if not transcribed.done():
            transcribed.set_result("")
        raise
    assert heard is not None
    part.transcript = heard.text
    part.audio = None  # only Whisper needed it; the client's bytes stay for retrieve
    if not transcribed.done():
        transcribed.set_result(heard.text)
    if shown is not None:
        session.emit(
            {
                "type": "conversation.item.input_audio_transcription.delta",
                "item_id": item.id,
                "content_index": 0,
                "delta": heard.text,
            }
        )
        session.emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item.id,
                "content_index": 0,
                "transcript": heard.text,
                "usage": {"type": "duration", "seconds": round(samples.size / RATE, 3)},
            }
        )
