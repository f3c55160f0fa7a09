"""``client.realtime.connect``: the ``/v1/realtime`` WebSocket (API reference: Realtime,
"WebSocket"). ``client.realtime.client_secrets`` is in ``client_secrets.py``; the beta
``client.beta.realtime.sessions`` in ``hearth.api.beta.realtime.sessions``.

The WebSocket authenticates with ``Authorization: Bearer`` (an API key or an ``ek_``
client secret) or, from a browser, the ``openai-insecure-api-key.<key>`` subprotocol. It
speaks the beta vocabulary when the ``OpenAI-Beta: realtime=v1`` header or the
``openai-beta.realtime-v1`` subprotocol is present, GA otherwise. A refused handshake is
an HTTP error in OpenAI's JSON shape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from hearth.api.deps import bearer_key
from hearth.api.errors import render
from hearth.domain import Principal
from hearth.errors import AuthenticationFailed, HearthError
from hearth.services.container import Services
from hearth.store.api_keys import redact_secret
from hearth.store.client_secrets import ClientSecret

router = APIRouter()

_KEY_PROTOCOL = "openai-insecure-api-key."
_BETA_PROTOCOL = "openai-beta.realtime-v1"


@router.websocket("/realtime")
async def connect(ws: WebSocket) -> None:
    """One Realtime session per connection, until the client leaves or it expires
    (``?model=``: the session's model). A handshake refused for the key (401), the model
    (404) or the client secret's settings (400) is an HTTP error."""
    svc: Services = ws.app.state.services
    offered = list(ws.scope.get("subprotocols") or [])
    beta = "realtime=v1" in ws.headers.get("openai-beta", "") or _BETA_PROTOCOL in offered
    try:
        caller, secret = await _authenticate(svc, _key(ws, offered))
        session = await svc.realtime.open(caller, ws.query_params.get("model"), beta, secret)
    except HearthError as exc:
        await ws.send_denial_response(render(exc))
        return
    await ws.accept(subprotocol="realtime" if "realtime" in offered else None)
    with contextlib.suppress(WebSocketDisconnect):
        await svc.realtime.serve(caller, session, _receiver(ws), ws.send_text)
        with contextlib.suppress(Exception):  # it expired: say goodbye
            await ws.close(1000)


def _key(ws: WebSocket, offered: list[str]) -> str:
    key = bearer_key(ws.headers.get("authorization", ""))
    if key:
        return key
    for protocol in offered:
        if protocol.startswith(_KEY_PROTOCOL):
            return protocol[len(_KEY_PROTOCOL) :]
    return ""


async def _authenticate(svc: Services, key: str) -> tuple[Principal, ClientSecret | None]:
    """The caller of an API key, or of the key that minted an ``ek_`` client secret
    (and that secret); ``AuthenticationFailed`` otherwise."""
    if not key:
        raise AuthenticationFailed(
            "You didn't provide an API key. Use an Authorization: Bearer header, or the "
            f"'{_KEY_PROTOCOL}<key>' WebSocket subprotocol from a browser.",
            code="missing_api_key",
        )
    caller = await svc.auth.verify(key)
    if caller is not None:
        svc.auth.authorize(caller, "WEBSOCKET", "/v1/realtime")
        return caller, None
    secret = await svc.realtime.verify_client_secret(key)
    if secret is None:
        raise AuthenticationFailed(f"Incorrect API key provided: {redact_secret(key)}.")
    return secret.principal, secret


def _receiver(ws: WebSocket) -> Callable[[], Awaitable[str]]:
    """The socket's next frame as text; ``WebSocketDisconnect`` when the client left."""

    async def receive() -> str:
        message: Any = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        if message.get("text") is not None:
            return str(message["text"])
        return bytes(message.get("bytes") or b"").decode("utf-8", "replace")

    return receive
