"""The Realtime API over HTTP and WebSocket (API reference: Realtime):
``POST /v1/realtime/client_secrets`` (GA), ``POST /v1/realtime/sessions`` (beta), the
``/v1/realtime`` WebSocket, and Hearth's own loopback-only demo token.

The WebSocket authenticates with ``Authorization: Bearer`` (an API key or an ``ek_``
client secret) or, from a browser, the ``openai-insecure-api-key.<key>`` subprotocol. It
speaks the beta vocabulary when the ``OpenAI-Beta: realtime=v1`` header or the
``openai-beta.realtime-v1`` subprotocol is present, GA otherwise. A refused handshake is
an HTTP error in OpenAI's JSON shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from hearth.api.bodies import parse_body
from hearth.api.deps import authenticate, services
from hearth.api.errors import render
from hearth.errors import AuthenticationFailed, HearthError, PermissionDenied
from hearth.services.realtime.service import BetaSessionParams, ClientSecretParams
from hearth.domain import Principal
from hearth.store.api_keys import redact_secret

router = APIRouter()
demo_router = APIRouter()

_KEY_PROTOCOL = "openai-insecure-api-key."
_BETA_PROTOCOL = "openai-beta.realtime-v1"
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@router.post("/realtime/client_secrets")
async def client_secrets(request: Request,
                         principal: Annotated[Principal, Depends(authenticate)]) -> JSONResponse:
    """An ephemeral ``ek_`` key for one client: ``{value, expires_at, session}``."""
    params = await parse_body(request, ClientSecretParams)
    realtime = services(request).realtime
    return JSONResponse(await asyncio.to_thread(
        realtime.create_client_secret, principal, params))


@router.post("/realtime/sessions")
async def beta_sessions(request: Request,
                        principal: Annotated[Principal, Depends(authenticate)]) -> JSONResponse:
    """The beta equivalent: a session object with ``client_secret``."""
    params = await parse_body(request, BetaSessionParams)
    realtime = services(request).realtime
    return JSONResponse(await asyncio.to_thread(
        realtime.create_beta_session, principal, params))


@demo_router.post("/hearth/realtime/demo-token")
async def demo_token(request: Request) -> JSONResponse:
    """A client secret for the demo page at ``/realtime``, minted as the server's first
    API key, for loopback clients only (a page served elsewhere must mint its own)."""
    svc = services(request)
    host = request.client.host if request.client else ""
    if not svc.settings.realtime_demo or host not in _LOOPBACK or \
            "x-forwarded-for" in request.headers:
        raise PermissionDenied("The demo token is only given to browsers on this machine; "
                               "mint a client secret with POST /v1/realtime/client_secrets.",
                               code="demo_token_forbidden")
    principal = await asyncio.to_thread(svc.api_keys.default_principal)
    if principal is None:
        raise PermissionDenied("This server has no API key to act as.")
    return JSONResponse(await asyncio.to_thread(
        svc.realtime.create_client_secret, principal, ClientSecretParams()))


def _credentials(ws: WebSocket) -> tuple[str, list[str]]:
    offered = list(ws.scope.get("subprotocols") or [])
    scheme, _, key = ws.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip(), offered
    for protocol in offered:
        if protocol.startswith(_KEY_PROTOCOL):
            return protocol[len(_KEY_PROTOCOL):], offered
    return "", offered


async def _deny(ws: WebSocket, error: HearthError) -> None:
    await ws.send_denial_response(render(error))


@router.websocket("/realtime")
async def realtime_socket(ws: WebSocket) -> None:
    """One Realtime session per connection, until the client leaves or it expires."""
    svc = ws.app.state.services
    key, offered = _credentials(ws)
    if not key:
        await _deny(ws, AuthenticationFailed(
            "You didn't provide an API key. Use an Authorization: Bearer header, or the "
            f"'{_KEY_PROTOCOL}<key>' WebSocket subprotocol from a browser.",
            code="missing_api_key"))
        return
    principal = await asyncio.to_thread(svc.api_keys.verify, key)
    secret = None
    if principal is None:
        secret = await asyncio.to_thread(svc.realtime.secrets.verify, key)
        principal = secret.principal if secret is not None else None
    if principal is None:
        await _deny(ws, AuthenticationFailed(f"Incorrect API key provided: "
                                             f"{redact_secret(key)}."))
        return
    beta = "realtime=v1" in ws.headers.get("openai-beta", "") or _BETA_PROTOCOL in offered
    try:
        session = svc.realtime.open(principal, ws.query_params.get("model"), beta, secret)
    except HearthError as exc:
        await _deny(ws, exc)
        return
    await ws.accept(subprotocol="realtime" if "realtime" in offered else None)

    async def receive() -> str:
        message: Any = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        if message.get("text") is not None:
            return str(message["text"])
        return bytes(message.get("bytes") or b"").decode("utf-8", "replace")

    remaining = session.config.expires_at - time.time()
    svc.realtime.sessions_open += 1
    try:
        await asyncio.wait_for(session.run(receive, ws.send_text), timeout=remaining)
    except TimeoutError:
        with contextlib.suppress(Exception):
            await ws.send_json({"type": "error", "event_id": "event_expired", "error": {
                "type": "invalid_request_error", "code": "session_expired", "param": None,
                "event_id": None, "message": "Your session hit the maximum duration."}})
            await ws.close(1000)
    except WebSocketDisconnect:
        pass
    finally:
        svc.realtime.sessions_open -= 1
