"""Stored chat completions: ``client.chat.completions.list / retrieve / update / delete``
and ``client.chat.completions.messages.list`` (OpenAI API reference: Chat Completions).
Every call is scoped to the caller's project; the service's work runs off the loop."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import parse_body
from hearth.api.deps import authenticate, metadata_filter, services
from hearth.errors import InvalidRequest
from hearth.services.chat.stored import UpdateParams
from hearth.domain import Principal
from hearth.store.pages import Order

router = APIRouter()
Caller = Annotated[Principal, Depends(authenticate)]


@router.get("/chat/completions")
async def list_completions(request: Request, principal: Caller) -> JSONResponse:
    """``ChatCompletionList``; query ``model``, ``metadata[key]=value`` (every pair must
    match; the SDK sends a dict this way), ``after``, ``limit`` (20, max 100), ``order``
    (``asc``)."""
    query = request.query_params
    metadata = metadata_filter(request)
    body = await asyncio.to_thread(
        services(request).stored_completions.list, principal.project_id,
        model=query.get("model"), metadata=metadata, after=query.get("after"),
        limit=_limit(request), order=_order(request))
    return JSONResponse(body)


@router.get("/chat/completions/{completion_id}")
async def retrieve(completion_id: str, request: Request, principal: Caller) -> JSONResponse:
    """The stored ``ChatCompletion`` (with ``metadata``); 404 if not stored here."""
    stored = services(request).stored_completions
    return JSONResponse(await asyncio.to_thread(
        stored.retrieve, principal.project_id, completion_id))


@router.post("/chat/completions/{completion_id}")
async def update(completion_id: str, request: Request, principal: Caller) -> JSONResponse:
    """Body ``{"metadata": {...} | null}`` replaces the metadata; the updated completion."""
    params = await parse_body(request, UpdateParams)
    stored = services(request).stored_completions
    return JSONResponse(await asyncio.to_thread(
        stored.update, principal.project_id, completion_id, params.metadata))


@router.delete("/chat/completions/{completion_id}")
async def delete(completion_id: str, request: Request, principal: Caller) -> JSONResponse:
    """``{"id", "object": "chat.completion.deleted", "deleted": true}``."""
    stored = services(request).stored_completions
    return JSONResponse(await asyncio.to_thread(
        stored.delete, principal.project_id, completion_id))


@router.get("/chat/completions/{completion_id}/messages")
async def messages(completion_id: str, request: Request, principal: Caller) -> JSONResponse:
    """The request's messages (``ChatCompletionStoreMessage``); ``after``, ``limit``,
    ``order`` as for the list."""
    stored = services(request).stored_completions
    return JSONResponse(await asyncio.to_thread(
        stored.messages, principal.project_id, completion_id,
        after=request.query_params.get("after"), limit=_limit(request),
        order=_order(request)))


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return 20
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"Invalid 'limit': expected an integer, got {raw!r}.",
                             param="limit") from None


def _order(request: Request) -> Order:
    order = request.query_params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid 'order': expected 'asc' or 'desc', got {order!r}.",
                             param="order", code="invalid_value")
    return "asc" if order == "asc" else "desc"
