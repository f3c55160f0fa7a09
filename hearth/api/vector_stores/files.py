"""``client.vector_stores.files``: ``/v1/vector_stores/{id}/files[/{file_id}[/content]]``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import paging
from hearth.domain import PageParams
from hearth.services.vector_stores.params import FileCreateParams, FileUpdateParams

router = APIRouter()

Status = Literal["in_progress", "completed", "failed", "cancelled"]


@router.post("/vector_stores/{vector_store_id}/files")
async def create(request: Request, caller: Caller, svc: Svc, vector_store_id: str) -> JSONResponse:
    """``client.vector_stores.files.create`` (and the SDK's ``create_and_poll`` /
    ``upload_and_poll``): a ``VectorStoreFile``, ``in_progress``."""
    params = await parse_body(request, FileCreateParams)
    return json_response(await svc.vector_stores.files.create(caller, vector_store_id, params))


@router.get("/vector_stores/{vector_store_id}/files")
async def list(
    caller: Caller,
    svc: Svc,
    vector_store_id: str,
    page: Annotated[PageParams, Depends(paging(20, 100, "desc"))],
    filter: Annotated[Status | None, Query()] = None,
) -> JSONResponse:
    """``client.vector_stores.files.list``: ``CursorPage[VectorStoreFile]``."""
    files = svc.vector_stores.files
    return json_response(await files.list(caller, vector_store_id, page, status=filter))


@router.get("/vector_stores/{vector_store_id}/files/{file_id}")
async def retrieve(caller: Caller, svc: Svc, vector_store_id: str, file_id: str) -> JSONResponse:
    """``client.vector_stores.files.retrieve``."""
    return json_response(await svc.vector_stores.files.retrieve(caller, vector_store_id, file_id))


@router.post("/vector_stores/{vector_store_id}/files/{file_id}")
async def update(
    request: Request, caller: Caller, svc: Svc, vector_store_id: str, file_id: str
) -> JSONResponse:
    """``client.vector_stores.files.update``: new ``attributes``."""
    params = await parse_body(request, FileUpdateParams)
    files = svc.vector_stores.files
    return json_response(await files.update(caller, vector_store_id, file_id, params))


@router.delete("/vector_stores/{vector_store_id}/files/{file_id}")
async def delete(caller: Caller, svc: Svc, vector_store_id: str, file_id: str) -> JSONResponse:
    """``client.vector_stores.files.delete``: the file leaves the store (it still exists)."""
    return json_response(await svc.vector_stores.files.delete(caller, vector_store_id, file_id))


@router.get("/vector_stores/{vector_store_id}/files/{file_id}/content")
async def content(caller: Caller, svc: Svc, vector_store_id: str, file_id: str) -> JSONResponse:
    """``client.vector_stores.files.content``: the parsed text, chunk by chunk."""
    return json_response(await svc.vector_stores.files.content(caller, vector_store_id, file_id))
