"""``client.conversations.items``: ``POST|GET /v1/conversations/{id}/items``,
``GET|DELETE /v1/conversations/{id}/items/{item_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import paging
from hearth.domain import PageParams
from hearth.services.responses.params import ItemsCreateParams

router = APIRouter()


@router.post("/conversations/{conversation_id}/items")
async def create(conversation_id: str, request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.conversations.items.create``: the added items as a list."""
    params = await parse_body(request, ItemsCreateParams)
    return json_response(await svc.conversations.create_items(caller, conversation_id, params))


@router.get("/conversations/{conversation_id}/items")
async def list(
    conversation_id: str,
    caller: Caller,
    svc: Svc,
    page: Annotated[PageParams, Depends(paging(20, 100, "desc"))],
) -> Response:
    """``client.conversations.items.list``: the items (newest first by default)."""
    return json_response(await svc.conversations.list_items(caller, conversation_id, page))


@router.get("/conversations/{conversation_id}/items/{item_id}")
async def retrieve(conversation_id: str, item_id: str, caller: Caller, svc: Svc) -> Response:
    """``client.conversations.items.retrieve``."""
    return json_response(await svc.conversations.retrieve_item(caller, conversation_id, item_id))


@router.delete("/conversations/{conversation_id}/items/{item_id}")
async def delete(conversation_id: str, item_id: str, caller: Caller, svc: Svc) -> Response:
    """``client.conversations.items.delete``: the conversation."""
    return json_response(await svc.conversations.delete_item(caller, conversation_id, item_id))
