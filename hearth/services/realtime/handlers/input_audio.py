"""The input audio buffer and the user's turns (API reference: Realtime,
``input_audio_buffer.*``). Appended audio goes to the buffer; server VAD marks where
speech starts and stops; at a stop the buffer is committed as a user item, transcribed by
Whisper and, with ``create_response``, answered. Speech that starts while a response is
playing cancels it (``interrupt_response``). Without turn detection (push-to-talk) the
client commits."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import TYPE_CHECKING, Any

from hearth.audio.vad import SpeechStarted, VadEvent
from hearth.errors import InvalidRequest
from hearth.services.realtime.audio_in import Committed
from hearth.services.realtime.events import EventRouter
from hearth.services.realtime.handlers.conversation import added
from hearth.services.realtime.handlers.responses import answer_turn
from hearth.services.realtime.handlers.transcription import Heard, stt, transcribe
from hearth.services.realtime.items import Item, Part, new_item_id

if TYPE_CHECKING:
    from hearth.services.realtime.session import RealtimeSession

router = EventRouter()

SPECULATE_AFTER_MS = 160
"""Silence within a turn after which its transcription starts, before VAD ends the turn
(``silence_duration_ms``, 500 by default): most pauses this long are the end."""


@router.register("input_audio_buffer.append")
async def append(session: RealtimeSession, event: dict[str, Any]) -> None:
    """Add base64 audio in the session's input format; with server VAD, the turn events
    it completes. ``InvalidRequest`` for bad audio or a full buffer."""
    buffer, turn = session.buffer, session.turn
    if buffer.buffered_ms > session.deps.max_buffer_ms:
        raise InvalidRequest(
            "The input audio buffer is full; commit or clear it.",
            param="audio",
            code="input_audio_buffer_full",
        )
    if buffer.needs_vad_model:  # loaded in the background since the session opened
        buffer.attach_vad(await asyncio.to_thread(session.deps.vad))
    for vad_event in buffer.append(event["audio"]):
        _on_vad(session, vad_event)
    td = session.config.turn_detection
    if td is None:
        return
    if not buffer.speaking:
        buffer.trim(td.prefix_padding_ms + 100)
    elif buffer.silence_ms == 0 and turn.guess is not None:
        turn.guess.cancel()  # the speaker went on: that guess is stale
        turn.guess = None
    elif buffer.silence_ms >= SPECULATE_AFTER_MS and turn.guess is None:
        # the turn has probably ended: transcribe it now, while VAD waits out
        # silence_duration_ms; the audio after this is silence, so it stays valid
        with contextlib.suppress(InvalidRequest):  # under 100 ms: no turn yet
            audio = buffer.peek(turn.start_ms - td.prefix_padding_ms)
            turn.guess = session.spawn(stt(session, audio.samples))


@router.register("input_audio_buffer.commit")
async def commit(session: RealtimeSession, event: dict[str, Any]) -> None:
    """The buffer as a user item; ``InvalidRequest`` under 100 ms of audio."""
    committed = session.buffer.commit()
    item_id = session.turn.item_id or new_item_id()
    session.turn.item_id = None
    _commit(session, committed, item_id)


@router.register("input_audio_buffer.clear")
async def clear(session: RealtimeSession, event: dict[str, Any]) -> None:
    session.buffer.clear()
    session.turn.item_id = None
    session.emit({"type": "input_audio_buffer.cleared"})


def _on_vad(session: RealtimeSession, event: VadEvent) -> None:
    td, turn = session.config.turn_detection, session.turn
    if isinstance(event, SpeechStarted):
        turn.item_id = new_item_id()
        turn.start_ms = event.audio_start_ms
        session.emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": event.audio_start_ms,
                "item_id": turn.item_id,
            }
        )
        if td is not None and td.interrupt_response and session.active is not None:
            session.active.cancel("turn_detected")
        return
    item_id = turn.item_id or new_item_id()
    turn.item_id = None
    session.emit(
        {
            "type": "input_audio_buffer.speech_stopped",
            "audio_end_ms": event.audio_end_ms,
            "item_id": item_id,
        }
    )
    padding = td.prefix_padding_ms if td is not None else 0
    guess, turn.guess = turn.guess, None
    try:
        committed = session.buffer.commit(from_ms=turn.start_ms - padding)
    except InvalidRequest:
        return  # a blip too short to keep
    _commit(session, committed, item_id, guess)
    if td is not None and td.create_response:
        answer_turn(session)


def _commit(
    session: RealtimeSession,
    committed: Committed,
    item_id: str,
    guess: asyncio.Task[Heard] | None = None,
) -> None:
    part = Part(
        "input_audio", audio=committed.samples, audio_b64=base64.b64encode(committed.wire).decode()
    )
    item = Item(id=item_id, type="message", role="user", content=[part])
    previous = session.conversation.insert(item)
    session.emit(
        {"type": "input_audio_buffer.committed", "item_id": item.id, "previous_item_id": previous}
    )
    added(session, item, previous)
    transcribe(session, item, part, guess)
