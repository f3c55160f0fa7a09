"""``client.audio`` routes, and what transcriptions and translations share: a
recognition that stops when its client leaves, and the rendering of its result."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response

from hearth.api.bodies import json_response
from hearth.api.disconnect import unless_client_leaves
from hearth.services.audio.transcriptions import Rendered


async def recognize(
    request: Request, work: Callable[[threading.Event], Awaitable[Rendered]]
) -> Response:
    """Run ``work(stop)`` until its client leaves (``stop`` is then set, so the worker
    thread ends at its next segment) and answer its result: JSON for an SDK model,
    ``text/plain`` for text; 499 when nobody is listening."""
    stop = threading.Event()

    async def run() -> Rendered:
        try:
            return await work(stop)
        finally:  # cancelled: the thread would otherwise recognize on
            stop.set()

    rendered = await unless_client_leaves(request, run())
    if rendered is None:
        return Response(status_code=499)
    if isinstance(rendered.body, str):
        return PlainTextResponse(rendered.body)
    return json_response(rendered.body)
