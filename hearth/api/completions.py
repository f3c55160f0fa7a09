"""``client.completions``: ``POST /v1/completions``, the legacy Completions API (OpenAI API
reference: Completions)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.disconnect import unless_client_leaves
from hearth.api.sse import sse_response
from hearth.services.completions import CompletionParams

router = APIRouter()


@router.post("/completions")
async def create(request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.completions.create``: a ``Completion``, or with ``stream: true``
    ``Completion`` chunks then ``[DONE]``. Errors found before generation are plain
    responses even for a stream; a client that leaves stops its generation."""
    params = await parse_body(request, CompletionParams)
    if params.stream:
        return sse_response(await svc.completions.stream(caller, params))
    completion = await unless_client_leaves(request, svc.completions.create(caller, params))
    if completion is None:
        return Response(status_code=499)  # nobody is listening
    return json_response(completion)
