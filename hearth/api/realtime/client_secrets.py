"""``client.realtime.client_secrets`` (API reference: Realtime, "Client secrets")."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.services.realtime.service import ClientSecretParams

router = APIRouter()


@router.post("/realtime/client_secrets")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``client.realtime.client_secrets.create``: ``ClientSecretCreateResponse``
    (``{value: "ek_...", expires_at, session}``), an ephemeral key for one client to open
    Realtime sessions with ``session``'s settings, until ``expires_after.seconds`` (10 to
    7,200; default 600). 400 naming the bad field; 404 for an unknown ``session.model``."""
    params = await parse_body(request, ClientSecretParams)
    return json_response(await svc.realtime.create_client_secret(caller, params))
