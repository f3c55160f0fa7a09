"""Work that stops when its client leaves: Starlette does not cancel a handler whose
client disconnected, so a long non-streamed generation or transcription would run on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

T = TypeVar("T")
POLL_S = 0.5
"""How often (seconds) a waiting handler asks whether its client is still there."""


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T | None:
    """``work``'s result, or None once the client has disconnected (``work`` is then
    cancelled); cancelling the handler (server shutdown, an in-process client) cancels
    ``work`` too."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_S)
            if not task.done() and await request.is_disconnected():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return None
    finally:
        task.cancel()
    return task.result()
