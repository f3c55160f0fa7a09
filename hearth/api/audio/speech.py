"""``client.audio.speech``: ``POST /v1/audio/speech`` (audio bytes or SSE, streamed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from hearth.api.bodies import parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.sse import sse_response
from hearth.services.audio.speech import SpeechParams

router = APIRouter()


@router.post("/audio/speech")
async def create(request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.audio.speech.create``: the speech as ``response_format`` bytes, sent
    sentence by sentence; with ``stream_format: "sse"`` ``speech.audio.delta`` /
    ``speech.audio.done`` events."""
    speech = await svc.speech.create(caller, await parse_body(request, SpeechParams))
    if speech.events is not None:
        return sse_response(speech.events, done=False)
    assert speech.audio is not None
    return StreamingResponse(
        speech.audio,
        media_type=speech.media_type,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
