"""``client.vector_stores``: ``POST|GET /v1/vector_stores``,
``GET|POST|DELETE /v1/vector_stores/{id}``, ``POST /v1/vector_stores/{id}/search``
(OpenAI API reference: Vector stores)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import paging
from hearth.domain import PageParams
from hearth.services.vector_stores.params import CreateParams, SearchParams, UpdateParams

router = APIRouter()


@router.post("/vector_stores")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``client.vector_stores.create``: a ``VectorStore``; its files ingest in the
    background (``status`` ``in_progress`` until they are done)."""
    params = await parse_body(request, CreateParams)
    return json_response(await svc.vector_stores.create(caller, params))


@router.get("/vector_stores")
async def list(
    caller: Caller, svc: Svc, page: Annotated[PageParams, Depends(paging(20, 100, "desc"))]
) -> JSONResponse:
    """``client.vector_stores.list``: ``CursorPage[VectorStore]`` (newest first)."""
    return json_response(await svc.vector_stores.list(caller, page))


@router.get("/vector_stores/{vector_store_id}")
async def retrieve(caller: Caller, svc: Svc, vector_store_id: str) -> JSONResponse:
    """``client.vector_stores.retrieve``: a ``VectorStore``; 404 if the project has none."""
    return json_response(await svc.vector_stores.retrieve(caller, vector_store_id))


@router.post("/vector_stores/{vector_store_id}")
async def update(request: Request, caller: Caller, svc: Svc, vector_store_id: str) -> JSONResponse:
    """``client.vector_stores.update``: ``name``, ``expires_after``, ``metadata``."""
    params = await parse_body(request, UpdateParams)
    return json_response(await svc.vector_stores.update(caller, vector_store_id, params))


@router.delete("/vector_stores/{vector_store_id}")
async def delete(caller: Caller, svc: Svc, vector_store_id: str) -> JSONResponse:
    """``client.vector_stores.delete``: ``VectorStoreDeleted``; chunks go, files stay."""
    return json_response(await svc.vector_stores.delete(caller, vector_store_id))


@router.post("/vector_stores/{vector_store_id}/search")
async def search(request: Request, caller: Caller, svc: Svc, vector_store_id: str) -> JSONResponse:
    """``client.vector_stores.search``: ``vector_store.search_results.page``."""
    params = await parse_body(request, SearchParams)
    return json_response(await svc.vector_stores.search(caller, vector_store_id, params))
