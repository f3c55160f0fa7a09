"""``client.chat.completions``: ``POST /v1/chat/completions`` (JSON or SSE)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import authenticate, services
from hearth.api.sse import sse_response
from hearth.services.chat.params import ChatCompletionParams

router = APIRouter(dependencies=[Depends(authenticate)])


@router.post("/chat/completions")
async def create(request: Request) -> Response:
    """A ``ChatCompletion``, or with ``stream: true`` ``ChatCompletionChunk`` events."""
    params = await parse_body(request, ChatCompletionParams)
    chat = services(request).chat
    if params.stream:
        meta, handle = await chat.start(params)  # errors before the stream are plain 4xx
        return sse_response(chat.stream(meta, handle, params))
    return json_response(await chat.create(params))
