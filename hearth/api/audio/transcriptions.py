"""``client.audio.transcriptions`` and ``client.audio.translations``:
``POST /v1/audio/transcriptions`` and ``POST /v1/audio/translations`` (multipart)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ValidationError

from hearth.api.bodies import json_response
from hearth.api.deps import authenticate, services
from hearth.errors import invalid_request as validation_error
from hearth.api.forms import parse_form
from hearth.api.sse import sse_response
from hearth.errors import InvalidRequest
from hearth.services.audio.transcriptions import (
    Rendered,
    TranscriptionParams,
    TranslationParams,
    Upload,
)

router = APIRouter(dependencies=[Depends(authenticate)])

P = TypeVar("P", bound=BaseModel)


async def _read(request: Request, model: type[P]) -> tuple[P, Upload]:
    limit = int(services(request).settings.max_upload_mb * 1_000_000)
    form = await parse_form(request, "file", limit)
    if form.data is None:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file")
    try:
        params = model.model_validate(form.fields)  # lax: form values are strings
    except ValidationError as exc:
        raise validation_error(exc) from None
    return params, Upload(form.filename or "", form.data)


async def _unless_client_leaves(request: Request,
                                work: Callable[[threading.Event], Awaitable[Rendered]]) -> Rendered:
    """Run ``work(stop)``, setting ``stop`` if the client disconnects meanwhile (Starlette
    does not cancel a handler whose client left; a long transcription would run on)."""
    stop = threading.Event()
    task = asyncio.ensure_future(work(stop))
    while not task.done():
        await asyncio.wait({task}, timeout=0.5)
        if not task.done() and await request.is_disconnected():
            stop.set()
    return task.result()


def _respond(rendered: Rendered) -> Response:
    if isinstance(rendered.body, str):
        return PlainTextResponse(rendered.body)
    return json_response(rendered.body)


@router.post("/audio/transcriptions")
async def transcribe(request: Request) -> Response:
    """``Transcription`` / ``TranscriptionVerbose`` JSON, text, SRT or VTT; with
    ``stream=true`` ``transcript.text.delta`` / ``transcript.text.done`` events."""
    params, upload = await _read(request, TranscriptionParams)
    transcriptions = services(request).transcriptions
    if params.stream:
        # OpenAI's transcript stream ends at transcript.text.done (no [DONE] frame)
        return sse_response(await transcriptions.stream(params, upload), done=False)
    return _respond(await _unless_client_leaves(
        request, lambda stop: transcriptions.create(params, upload, stop=stop)))


@router.post("/audio/translations")
async def translate(request: Request) -> Response:
    """Speech in any language as English text: ``Translation`` / ``TranslationVerbose``
    JSON, text, SRT or VTT."""
    params, upload = await _read(request, TranslationParams)
    transcriptions = services(request).transcriptions
    return _respond(await _unless_client_leaves(
        request, lambda stop: transcriptions.create(params, upload, "translate", stop)))
