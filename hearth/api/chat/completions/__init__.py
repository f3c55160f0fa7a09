"""``client.chat.completions``: ``POST /v1/chat/completions`` (JSON or SSE)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import authenticate, services
from hearth.api.sse import sse_response
from hearth.services.chat.params import ChatCompletionParams
from hearth.domain import Principal

router = APIRouter()


@router.post("/chat/completions")
async def create(request: Request,
                 principal: Annotated[Principal, Depends(authenticate)]) -> Response:
    """A ``ChatCompletion``, or with ``stream: true`` ``ChatCompletionChunk`` events.
    The caller's organization scopes the prompt cache; with ``store: true`` the
    completion is stored in the caller's project."""
    params = await parse_body(request, ChatCompletionParams)
    chat = services(request).chat
    org, project = principal.organization_id, principal.project_id
    if params.stream:  # errors before the stream are plain 4xx
        meta, handle = await chat.start(params, org, project)
        return sse_response(chat.stream(meta, handle, params))
    return json_response(await chat.create(params, org, project))
