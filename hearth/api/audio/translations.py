"""``client.audio.translations``: ``POST /v1/audio/translations`` (multipart)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hearth.api.audio import recognize
from hearth.api.deps import Caller, Svc
from hearth.api.forms import read_upload
from hearth.services.audio.transcriptions import TranslationParams, Upload

router = APIRouter()


@router.post("/audio/translations")
async def create(request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.audio.translations.create``: speech in any language as English text:
    ``Translation`` / ``TranslationVerbose`` JSON, text, SRT or VTT. 413 over
    ``max_upload_mb``."""
    transcriptions = svc.transcriptions
    params, filename, data = await read_upload(
        request, transcriptions.max_upload_bytes, TranslationParams
    )
    upload = Upload(filename, data)
    return await recognize(
        request, lambda stop: transcriptions.translate(caller, params, upload, stop=stop)
    )
