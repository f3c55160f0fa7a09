"""``session.update`` (API reference: Realtime, ``session.update``): a partial session in
the connection's vocabulary; every field is checked before any is applied, and the whole
session comes back in ``session.updated``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hearth.audio.vad import VadConfig
from hearth.services.realtime.config import apply_beta, apply_ga
from hearth.services.realtime.events import EventRouter

if TYPE_CHECKING:
    from hearth.services.realtime.session import RealtimeSession

router = EventRouter()


@router.register("session.update")
async def update(session: RealtimeSession, event: dict[str, Any]) -> None:
    """Apply ``event["session"]``; ``InvalidRequest`` naming the bad field changes
    nothing."""
    fields = session.vocab.session_fields(event["session"])
    apply = apply_beta if session.vocab.beta else apply_ga
    session.config = apply(session.config, fields, session.deps.check)
    configure_audio(session)
    session.emit({"type": "session.updated", "session": session.config})
    session.deps.warm(session.config)  # a new transcription model or voice loads now


def configure_audio(session: RealtimeSession) -> None:
    """The input buffer's format and server VAD (none: push-to-talk) from the config."""
    td = session.config.turn_detection
    vad = VadConfig(td.threshold, td.prefix_padding_ms, td.silence_ms) if td is not None else None
    session.buffer.configure(session.config.input_format, vad)
