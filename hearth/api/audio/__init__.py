"""``client.audio`` routes, and what transcriptions and translations share: the running
of a recognition that stops when its client leaves, and the rendering of its result."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response

from hearth.api.bodies import json_response
from hearth.services.audio.transcriptions import Rendered


async def unless_client_leaves(
    request: Request, work: Callable[[threading.Event], Awaitable[Rendered]]
) -> Response:
    """Run ``work(stop)``, setting ``stop`` if the client disconnects meanwhile (Starlette
    does not cancel a handler whose client left; a long transcription would run on), and
    answer its result: JSON for an SDK model, ``text/plain`` for text."""
    stop = threading.Event()
    task = asyncio.ensure_future(work(stop))
    while not task.done():
        await asyncio.wait({task}, timeout=0.5)
        if not task.done() and await request.is_disconnected():
            stop.set()
    rendered = task.result()
    if isinstance(rendered.body, str):
        return PlainTextResponse(rendered.body)
    return json_response(rendered.body)
