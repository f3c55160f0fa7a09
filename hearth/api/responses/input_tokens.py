"""``client.responses.input_tokens.count``: ``POST /v1/responses/input_tokens``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.services.responses.params import CountParams

router = APIRouter()


@router.post("/responses/input_tokens")
async def count(request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.responses.input_tokens.count``: ``response.input_tokens`` for the body a
    ``responses.create`` would send."""
    params = await parse_body(request, CountParams)
    return json_response(await svc.responses.count_input_tokens(caller, params))
