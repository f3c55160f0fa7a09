"""``client.conversations``: ``POST /v1/conversations``,
``GET|POST|DELETE /v1/conversations/{id}`` (OpenAI API reference: Conversations)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.services.responses.params import ConversationCreateParams, ConversationUpdateParams

router = APIRouter()


@router.post("/conversations")
async def create(request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.conversations.create``: a ``Conversation`` (with initial ``items``)."""
    params = await parse_body(request, ConversationCreateParams)
    return json_response(await svc.conversations.create(caller, params))


@router.get("/conversations/{conversation_id}")
async def retrieve(conversation_id: str, caller: Caller, svc: Svc) -> Response:
    """``client.conversations.retrieve``."""
    return json_response(await svc.conversations.retrieve(caller, conversation_id))


@router.post("/conversations/{conversation_id}")
async def update(conversation_id: str, request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.conversations.update``: replaces ``metadata``."""
    params = await parse_body(request, ConversationUpdateParams)
    return json_response(await svc.conversations.update(caller, conversation_id, params))


@router.delete("/conversations/{conversation_id}")
async def delete(conversation_id: str, caller: Caller, svc: Svc) -> Response:
    """``client.conversations.delete``: ``conversation.deleted``."""
    return json_response(await svc.conversations.delete(caller, conversation_id))
