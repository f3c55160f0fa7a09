"""``client.containers.files``: ``POST|GET /v1/containers/{id}/files``,
``GET|DELETE /v1/containers/{id}/files/{file_id}``,
``GET /v1/containers/{id}/files/{file_id}/content`` (OpenAI API reference: Container
Files).

``create`` takes either a multipart upload (``file``; what the SDK sends when given
``file``) or a JSON body ``{"file_id"}`` naming one of the project's files.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from hearth.api.bodies import json_response, parse_body, parse_fields
from hearth.api.deps import Caller, Svc
from hearth.api.forms import multipart
from hearth.api.pagination import paging
from hearth.domain import PageParams
from hearth.services.containers import FileCreateParams, Upload, UploadFields

router = APIRouter()


@router.post("/containers/{container_id}/files")
async def create(request: Request, caller: Caller, svc: Svc, container_id: str) -> JSONResponse:
    """``client.containers.files.create``: a ``container.file`` at
    ``/mnt/data/<file name>``, ``source`` ``user``. 400 when the container has expired
    or its disk is full, 413 over ``max_file_mb``."""
    source: FileCreateParams | Upload
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with multipart(request, svc.files.max_bytes) as form:
            parse_fields(form.fields, UploadFields)
            source = Upload(form.filename, await form.read())
    else:
        source = await parse_body(request, FileCreateParams)
    return json_response(await svc.containers.create_file(caller, container_id, source))


@router.get("/containers/{container_id}/files")
async def list(
    caller: Caller,
    svc: Svc,
    container_id: str,
    page: Annotated[PageParams, Depends(paging(20, 100, "desc"))],
) -> JSONResponse:
    """``client.containers.files.list``: ``CursorPage[FileListResponse]`` (newest first)."""
    return json_response(await svc.containers.list_files(caller, container_id, page))


@router.get("/containers/{container_id}/files/{file_id}")
async def retrieve(caller: Caller, svc: Svc, container_id: str, file_id: str) -> JSONResponse:
    """``client.containers.files.retrieve``."""
    return json_response(await svc.containers.retrieve_file(caller, container_id, file_id))


@router.delete("/containers/{container_id}/files/{file_id}")
async def delete(caller: Caller, svc: Svc, container_id: str, file_id: str) -> JSONResponse:
    """``client.containers.files.delete``: ``{"id", "object": "container.file.deleted",
    "deleted"}``; the file is removed from ``/mnt/data``."""
    return json_response(await svc.containers.delete_file(caller, container_id, file_id))


@router.get("/containers/{container_id}/files/{file_id}/content")
async def content(caller: Caller, svc: Svc, container_id: str, file_id: str) -> Response:
    """``client.containers.files.content.retrieve``: the file's bytes as they are in the
    container now (``application/octet-stream``)."""
    data = await svc.containers.file_content(caller, container_id, file_id)
    return Response(data, media_type="application/octet-stream")
