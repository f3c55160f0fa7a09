"""``client.audio.transcriptions``: ``POST /v1/audio/transcriptions`` (multipart)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hearth.api.audio import recognize
from hearth.api.deps import Caller, Svc
from hearth.api.forms import read_upload
from hearth.api.sse import sse_response
from hearth.services.audio.transcriptions import TranscriptionParams, Upload

router = APIRouter()


@router.post("/audio/transcriptions")
async def create(request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.audio.transcriptions.create``: ``Transcription`` / ``TranscriptionVerbose``
    JSON, text, SRT or VTT; with ``stream=true`` ``transcript.text.delta`` /
    ``transcript.text.done`` events. 413 over ``max_upload_mb``."""
    transcriptions = svc.transcriptions
    params, filename, data = await read_upload(
        request, transcriptions.max_upload_bytes, TranscriptionParams
    )
    upload = Upload(filename, data)
    if params.stream:
        # OpenAI's transcript stream ends at transcript.text.done (no [DONE] frame)
        return sse_response(await transcriptions.stream(caller, params, upload), done=False)
    return await recognize(
        request, lambda stop: transcriptions.create(caller, params, upload, stop=stop)
    )
