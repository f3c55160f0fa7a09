"""``client.chat.completions``: ``create`` (JSON or SSE) and, for completions created with
``store: true``, ``list`` / ``retrieve`` / ``update`` / ``delete`` (OpenAI API reference:
Chat Completions). Stored completions are scoped to the caller's project."""

from __future__ import annotations

import builtins
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc, metadata_filter
from hearth.api.disconnect import unless_client_leaves
from hearth.api.pagination import Paging
from hearth.api.sse import sse_response
from hearth.domain import PageParams
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.chat.stored import UpdateParams

router = APIRouter()
ENFORCED_HEADER = "x-hearth-schema-enforced"
REASON_HEADER = "x-hearth-schema-not-enforced-reason"


@router.post("/chat/completions")
async def create(request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.chat.completions.create``: a ``ChatCompletion``, or with ``stream: true``
    ``ChatCompletionChunk`` events then ``[DONE]``. Errors found before generation
    (400, 404, 503) are plain responses even for a stream; a failure mid-stream is one
    ``{"error": ...}`` frame. The caller's organization scopes the prompt cache; with
    ``store: true`` the completion is stored in the caller's project. A client that
    leaves stops its generation (stream or not). A schema sent without ``strict`` that
    Hearth only showed the model is flagged by ``x-hearth-schema-enforced: false`` and
    ``x-hearth-schema-not-enforced-reason``."""
    params = await parse_body(request, ChatCompletionParams)
    hints: builtins.list[str] = []
    response: Response
    if params.stream:
        response = sse_response(await svc.chat.stream(caller, params, hints))
    else:
        completion = await unless_client_leaves(request, svc.chat.create(caller, params, hints))
        if completion is None:
            return Response(status_code=499)  # nobody is listening
        response = json_response(completion)
    if hints:
        response.headers[ENFORCED_HEADER] = "false"
        response.headers[REASON_HEADER] = _header_text("; ".join(hints))
    return response


def _header_text(text: str) -> str:
    """``text`` as one short printable-ASCII header value."""
    return re.sub(r"[^\x20-\x7e]+", " ", text)[:500]


@router.get("/chat/completions")
async def list(
    request: Request,
    caller: Caller,
    svc: Svc,
    page: Annotated[PageParams, Depends(Paging)],
    model: str | None = None,
) -> Response:
    """``client.chat.completions.list``: ``CursorPage[ChatCompletion]`` of stored
    completions (``retrieve``'s shape); query ``model``, ``metadata[key]=value`` (every
    pair must match; the SDK sends a dict this way), ``after``, ``before``, ``limit``
    (20, at most 100), ``order`` (``asc``)."""
    return json_response(
        await svc.stored_completions.list(
            caller, page, model=model, metadata=metadata_filter(request)
        )
    )


@router.get("/chat/completions/{completion_id}")
async def retrieve(completion_id: str, caller: Caller, svc: Svc) -> Response:
    """``client.chat.completions.retrieve``: the stored ``ChatCompletion`` with
    ``metadata`` and the request's settings; 404 if not stored in the caller's project."""
    return json_response(await svc.stored_completions.retrieve(caller, completion_id))


@router.post("/chat/completions/{completion_id}")
async def update(completion_id: str, request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.chat.completions.update``: body ``{"metadata": {...} | null}`` replaces
    the metadata; the updated ``ChatCompletion``."""
    params = await parse_body(request, UpdateParams)
    return json_response(await svc.stored_completions.update(caller, completion_id, params))


@router.delete("/chat/completions/{completion_id}")
async def delete(completion_id: str, caller: Caller, svc: Svc) -> Response:
    """``client.chat.completions.delete``: ``ChatCompletionDeleted``; 404 if unknown."""
    return json_response(await svc.stored_completions.delete(caller, completion_id))
