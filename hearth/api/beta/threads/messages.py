"""``client.beta.threads.messages``: ``POST|GET /v1/threads/{thread_id}/messages``,
``GET|POST|DELETE /v1/threads/{thread_id}/messages/{message_id}`` (OpenAI API reference:
Assistants > Messages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import paging
from hearth.domain import PageParams
from hearth.services.assistants.params import MessageCreateParams, MessageUpdateParams

router = APIRouter()


@router.post("/threads/{thread_id}/messages")
async def create(request: Request, caller: Caller, svc: Svc, thread_id: str) -> JSONResponse:
    """``client.beta.threads.messages.create``: a ``Message`` (``completed``). 404 for
    the thread or an attached file; 400 for image content."""
    params = await parse_body(request, MessageCreateParams)
    return json_response(await svc.threads.messages.create(caller, thread_id, params))


@router.get("/threads/{thread_id}/messages")
async def list(
    caller: Caller,
    svc: Svc,
    thread_id: str,
    page: Annotated[PageParams, Depends(paging(20, 100, "desc"))],
    run_id: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """``client.beta.threads.messages.list``: ``CursorPage[Message]`` (newest first),
    only the messages run ``run_id`` made when given."""
    messages = svc.threads.messages
    return json_response(await messages.list(caller, thread_id, page, run_id=run_id))


@router.get("/threads/{thread_id}/messages/{message_id}")
async def retrieve(caller: Caller, svc: Svc, thread_id: str, message_id: str) -> JSONResponse:
    """``client.beta.threads.messages.retrieve``."""
    return json_response(await svc.threads.messages.retrieve(caller, thread_id, message_id))


@router.post("/threads/{thread_id}/messages/{message_id}")
async def update(
    request: Request, caller: Caller, svc: Svc, thread_id: str, message_id: str
) -> JSONResponse:
    """``client.beta.threads.messages.update``: new ``metadata``."""
    params = await parse_body(request, MessageUpdateParams)
    messages = svc.threads.messages
    return json_response(await messages.update(caller, thread_id, message_id, params))


@router.delete("/threads/{thread_id}/messages/{message_id}")
async def delete(caller: Caller, svc: Svc, thread_id: str, message_id: str) -> JSONResponse:
    """``client.beta.threads.messages.delete``: ``{"id", "object":
    "thread.message.deleted", "deleted": true}``."""
    return json_response(await svc.threads.messages.delete(caller, thread_id, message_id))
