"""``client.beta.realtime.sessions`` (API reference: Realtime beta, "Sessions")."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.services.realtime.service import BetaSessionParams

router = APIRouter()


@router.post("/realtime/sessions")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``client.beta.realtime.sessions.create``: ``SessionCreateResponse`` (the beta
    session object with ``client_secret: {value: "ek_...", expires_at}``); the body is a
    flat beta session plus ``client_secret.expires_after``. 400 naming the bad field; 404
    for an unknown ``model``."""
    params = await parse_body(request, BetaSessionParams)
    return json_response(await svc.realtime.create_beta_session(caller, params))
