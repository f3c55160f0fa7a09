"""The Realtime demo page (Hearth's own, not OpenAI's API): ``GET /realtime`` serves a
voice chat over ``/v1/realtime`` in plain HTML and JavaScript from ``hearth.web.realtime``
(docs/realtime-demo.md). Static files only, no auth: the page gets its own session key
from ``POST /hearth/realtime/demo-token`` (``token_router``, served even when the page is
off, to say why it refuses)."""

from __future__ import annotations

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
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


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
    page, minted as the server's first API key, for loopback clients only (a page served
    elsewhere must mint its own); 403 otherwise, or with the demo off or no key."""
    host = request.client.host if request.client else ""
    if (
        not svc.settings.realtime.demo
        or host not in _LOOPBACK
        or "x-forwarded-for" in request.headers
    ):
        raise PermissionDenied(
            "The demo token is only given to browsers on this machine; "
            "mint a client secret with POST /v1/realtime/client_secrets.",
            code="demo_token_forbidden",
        )
    caller = await svc.auth.default_principal()
    if caller is None:
        raise PermissionDenied("This server has no API key to act as.")
    return json_response(await svc.realtime.create_client_secret(caller, ClientSecretParams()))
