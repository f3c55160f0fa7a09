"""``client.files``: ``POST /v1/files`` (multipart), ``GET /v1/files``,
``GET|DELETE /v1/files/{file_id}``, ``GET /v1/files/{file_id}/content`` (raw bytes).

Uploads go through ``hearth.api.forms.multipart``: the file part spools to a temporary
file as it arrives, then streams into blob storage, and an oversized body gets a 413
before it is stored whole.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from hearth.api.bodies import json_response, parse_fields
from hearth.api.deps import Caller, Svc
from hearth.api.forms import multipart
from hearth.api.pagination import paging
from hearth.domain import PageParams
from hearth.services.files import CreateParams

router = APIRouter()


@router.post("/files")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``client.files.create``: multipart ``file``, ``purpose``, optional
    ``expires_after[anchor]`` / ``expires_after[seconds]``. ``FileObject``; 400 for a bad
    field or no file part, 413 over ``max_file_mb``."""
    async with multipart(request, svc.files.max_bytes) as form:
        params = parse_fields(form.fields, CreateParams)
        return json_response(await svc.files.create(caller, params, form.filename, form.chunks()))


@router.get("/files")
async def list(
    caller: Caller,
    svc: Svc,
    page: Annotated[PageParams, Depends(paging(10_000, 10_000, "desc"))],
    purpose: str | None = None,
) -> JSONResponse:
    """``client.files.list``: ``CursorPage[FileObject]``; query ``purpose`` (exact),
    ``after`` / ``before``, ``limit`` (1..10000, default 10000), ``order`` (default
    ``desc``)."""
    return json_response(await svc.files.list(caller, page, purpose=purpose))


@router.get("/files/{file_id}")
async def retrieve(caller: Caller, svc: Svc, file_id: str) -> JSONResponse:
    """``client.files.retrieve``: ``FileObject``; 404 if the project has no such
    (unexpired) file."""
    return json_response(await svc.files.retrieve(caller, file_id))


@router.delete("/files/{file_id}")
async def delete(caller: Caller, svc: Svc, file_id: str) -> JSONResponse:
    """``client.files.delete``: ``FileDeleted``; the bytes are removed too."""
    return json_response(await svc.files.delete(caller, file_id))


@router.get("/files/{file_id}/content")
async def content(caller: Caller, svc: Svc, file_id: str) -> StreamingResponse:
    """``client.files.content``: the file's bytes as uploaded
    (``application/octet-stream``), streamed."""
    obj, chunks = await svc.files.content(caller, file_id)
    # a sync iterator: Starlette reads it on its thread pool
    return StreamingResponse(
        chunks, media_type="application/octet-stream", headers={"content-length": str(obj.bytes)}
    )
