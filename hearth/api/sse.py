"""Server-sent events as OpenAI sends them: ``data: <json>\\n\\n`` frames, then
``data: [DONE]``; a failure mid-stream becomes one ``data: {"error": {...}}`` frame."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from hearth.errors import HearthError, InternalError

log = logging.getLogger(__name__)


async def _frames(
    events: AsyncIterator[BaseModel], done: bool, named: bool = False, assistant: bool = False
) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            if assistant:  # Assistants: ``event: thread.run.created`` + the object
                name = str(getattr(event, "event", ""))
                data = getattr(event, "data")  # noqa: B009 - every Assistants event has it
                body = data.model_dump_json(exclude_unset=True, by_alias=True)
                yield b"event: " + name.encode() + b"\ndata: " + body.encode() + b"\n\n"
                continue
            # named (Responses) events hold subclasses of the SDK's types: serialize what
            # they are (integer timestamps), not what the event's field declares
            frame = event.model_dump_json(exclude_unset=True, by_alias=True, serialize_as_any=named)
            if named:
                yield b"event: " + str(getattr(event, "type", "")).encode() + b"\n"
            yield b"data: " + frame.encode() + b"\n\n"
    except HearthError as exc:
        yield (b"event: error\n" if assistant else b"") + b"data: " + _json(exc) + b"\n\n"
        return
    except Exception:
        log.exception("stream failed")
        yield b"data: " + _json(InternalError("The server had an error while streaming.")) + b"\n\n"
        return
    if assistant:
        yield b"event: done\ndata: [DONE]\n\n"
    elif done:
        yield b"data: [DONE]\n\n"


def _json(error: HearthError) -> bytes:
    return json.dumps(error.to_dict()).encode()


def sse_response(
    events: AsyncIterator[BaseModel],
    done: bool = True,
    named: bool = False,
    assistant: bool = False,
) -> StreamingResponse:
    """A ``text/event-stream`` response over ``events`` (SDK models), ending with
    ``data: [DONE]`` unless ``done`` is false (speech and Responses streams have no such
    frame); ``named``: each frame has an ``event:`` line with the event's ``type`` (as the
    Responses API sends them); ``assistant``: Assistants events (``event: thread.*`` and
    the object as data, ending with ``event: done``)."""
    return StreamingResponse(
        _frames(events, done, named, assistant),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
