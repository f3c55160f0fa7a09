"""The Realtime demo page (Hearth's own, not OpenAI's API): ``GET /realtime`` serves a
voice chat over ``/v1/realtime`` in plain HTML and JavaScript from ``hearth.web.realtime``
(docs/realtime-demo.md). Static files only, no auth: the page gets its own session key
from ``POST /hearth/realtime/demo-token`` (``token_router``, served even when the page is
off, to say why it refuses)."""

from __future__ import annotations

import ipaddress
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from hearth.api.bodies import json_response
from hearth.api.deps import Svc
from hearth.errors import NotFound, PermissionDenied
from hearth.services.realtime.service import ClientSecretParams

router = APIRouter(include_in_schema=False)
token_router = APIRouter(include_in_schema=False)

_SCRIPTS = {"app.js", "mic-worklet.js"}
_LOOPBACK_NAMES = {"127.0.0.1", "[::1]", "localhost"}
_PROXY_HEADERS = frozenset(
    {
        "forwarded",
        "via",
        "x-real-ip",
        "x-client-ip",
        "client-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "fastly-client-ip",
        "x-cluster-client-ip",
        "x-original-forwarded-for",
        "x-envoy-external-address",
    }
)
"""Headers a reverse proxy adds for the client behind it (besides every ``x-forwarded-*``):
with any of them the loopback peer is a proxy, not the browser on this machine."""


def _read(name: str) -> bytes:
    return files("hearth.web.realtime").joinpath(name).read_bytes()


@router.get("/realtime")
async def page() -> Response:
    """The demo page."""
    return Response(
        _read("index.html"),
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/realtime/{name}")
async def script(name: str) -> Response:
    """The page's two scripts; any other name is a 404."""
    if name not in _SCRIPTS:
        raise NotFound(f"No such file: /realtime/{name}")
    return Response(
        _read(name),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@token_router.post("/hearth/realtime/demo-token")
async def demo_token(request: Request, svc: Svc) -> JSONResponse:
    """A client secret (``ClientSecretCreateResponse``, default session) for the demo
    page, minted as the server's first API key. Only for a browser on this machine: the
    peer is loopback, no proxy header names another client, the ``Host`` is a loopback
    name and the ``Origin``, when sent, is this server's own (``_refusal``). 403
    ``demo_token_forbidden`` otherwise, or with the demo off (``HEARTH_REALTIME_DEMO``);
    403 without any API key."""
    reason = _refusal(request) if svc.settings.realtime.demo else "the demo is turned off"
    if reason:
        raise PermissionDenied(
            f"The demo token is only given to the demo page on this machine ({reason}); "
            "mint a client secret with POST /v1/realtime/client_secrets.",
            code="demo_token_forbidden",
        )
    caller = await svc.auth.default_principal()
    if caller is None:
        raise PermissionDenied("This server has no API key to act as.")
    return json_response(await svc.realtime.create_client_secret(caller, ClientSecretParams()))


def _refusal(request: Request) -> str | None:
    """Why ``request`` is not the demo page in a browser on this machine, or None.

    The token acts as the default organization, so the request must come straight from
    this machine: a reverse proxy on the same host connects from loopback too, so any
    proxy header refuses it. The ``Host`` must be a loopback name, so a page on another
    name resolving here (DNS rebinding) is refused, and the ``Origin`` must be this
    server's own, so another site's page cannot fetch a token cross-origin. A missing
    ``Origin`` is allowed: browsers always send one on ``POST``, so such a request is a
    local program (``curl``), which could send any ``Origin`` it liked anyway."""
    if not _is_loopback(request.client.host if request.client else ""):
        return "the client is not on this machine"
    names = request.headers.keys()
    if any(name in _PROXY_HEADERS or name.startswith("x-forwarded-") for name in names):
        return "the request came through a proxy"
    authority = request.headers.get("host", "").lower()
    if _hostname(authority) not in _LOOPBACK_NAMES:
        return "the Host is not a loopback name"
    origin = request.headers.get("origin")
    if origin is not None and origin.lower() != f"{request.url.scheme}://{authority}":
        return "the page is from another origin"
    return None


def _is_loopback(peer: str) -> bool:
    """Whether ``peer`` is a loopback address (127.0.0.0/8, ::1, or IPv4-mapped)."""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _hostname(authority: str) -> str:
    """``host[:port]`` -> host (an IPv6 literal keeps its brackets)."""
    if authority.startswith("["):
        return authority.partition("]")[0] + "]"
    return authority.partition(":")[0]
