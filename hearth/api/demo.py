"""The Realtime demo page (Hearth's own, not OpenAI's API): ``GET /realtime`` serves a
voice chat over ``/v1/realtime`` in plain HTML and JavaScript from ``hearth.web.realtime``
(docs/realtime-demo.md). Static files only, no auth: the page gets its own session key."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

from hearth.errors import NotFound

router = APIRouter(include_in_schema=False)

_SCRIPTS = {"app.js", "mic-worklet.js"}


def _read(name: str) -> bytes:
    return files("hearth.web.realtime").joinpath(name).read_bytes()


@router.get("/realtime")
async def page() -> Response:
    """The demo page."""
    return Response(_read("index.html"), media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})


@router.get("/realtime/{name}")
async def script(name: str) -> Response:
    """The page's two scripts; any other name is a 404."""
    if name not in _SCRIPTS:
        raise NotFound(f"No such file: /realtime/{name}")
    return Response(_read(name), media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})
