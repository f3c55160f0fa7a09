"""``client.vector_stores.file_batches``: ``/v1/vector_stores/{id}/file_batches[...]``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import paging
from hearth.api.vector_stores.files import Status
from hearth.domain import PageParams
from hearth.services.vector_stores.params import BatchCreateParams

router = APIRouter()


@router.post("/vector_stores/{vector_store_id}/file_batches")
async def create(request: Request, caller: Caller, svc: Svc, vector_store_id: str) -> JSONResponse:
    """``client.vector_stores.file_batches.create`` (and ``create_and_poll``,
    ``upload_and_poll``): a ``VectorStoreFileBatch``."""
    params = await parse_body(request, BatchCreateParams)
    batches = svc.vector_stores.file_batches
    return json_response(await batches.create(caller, vector_store_id, params))


@router.get("/vector_stores/{vector_store_id}/file_batches/{batch_id}")
async def retrieve(caller: Caller, svc: Svc, vector_store_id: str, batch_id: str) -> JSONResponse:
    """``client.vector_stores.file_batches.retrieve``."""
    batches = svc.vector_stores.file_batches
    return json_response(await batches.retrieve(caller, vector_store_id, batch_id))


@router.post("/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel")
async def cancel(caller: Caller, svc: Svc, vector_store_id: str, batch_id: str) -> JSONResponse:
    """``client.vector_stores.file_batches.cancel``: unfinished files end ``cancelled``."""
    batches = svc.vector_stores.file_batches
    return json_response(await batches.cancel(caller, vector_store_id, batch_id))


@router.get("/vector_stores/{vector_store_id}/file_batches/{batch_id}/files")
async def list_files(
    caller: Caller,
    svc: Svc,
    vector_store_id: str,
    batch_id: str,
    page: Annotated[PageParams, Depends(paging(20, 100, "desc"))],
    filter: Annotated[Status | None, Query()] = None,
) -> JSONResponse:
    """``client.vector_stores.file_batches.list_files``: ``CursorPage[VectorStoreFile]``."""
    batches = svc.vector_stores.file_batches
    return json_response(
        await batches.list_files(caller, vector_store_id, batch_id, page, status=filter)
    )
