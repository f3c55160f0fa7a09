"""``client.files``: ``POST /v1/files`` (multipart), ``GET /v1/files``,
``GET|DELETE /v1/files/{file_id}``, ``GET /v1/files/{file_id}/content`` (raw bytes).

Uploads are parsed by Starlette/python-multipart as they arrive: the file part spools to
a temporary file (1 MB in memory at most), then streams into blob storage. The body is
refused with a 413 from ``Content-Length`` before anything is read, or as soon as a body
without one passes the limit, so an oversized upload is never stored whole.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.types import Message

from hearth.api.deps import authenticate, services
from hearth.errors import invalid_request as validation_error
from hearth.errors import InvalidRequest, PayloadTooLarge
from hearth.services.files import CreateParams, ListParams
from hearth.domain import Principal

router = APIRouter(dependencies=[Depends(authenticate)])

Caller = Annotated[Principal, Depends(authenticate)]

_FORM_OVERHEAD = 1 << 20  # multipart framing and text fields around the file
_CHUNK = 1 << 20
_NESTED = re.compile(r"^(\w+)\[(\w+)\]$")  # expires_after[seconds], as the SDK sends dicts


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"File is too large: the limit is {limit} bytes.", param="file",
                           code="file_too_large")


def _limited(request: Request, limit: int) -> Request:
    """``request`` refusing (413) a body over ``limit`` plus the form's overhead, whether
    it declares its length or not, without buffering it."""
    cap = limit + _FORM_OVERHEAD
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise _too_large(limit)
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > cap:
            raise _too_large(limit)
        return message

    return Request(request.scope, receive)


def _fields(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Text fields, ``a[b]`` keys nested as ``{"a": {"b": ...}}``."""
    out: dict[str, Any] = {}
    for key, value in items:
        nested = _NESTED.match(key)
        if nested:
            group = out.setdefault(nested[1], {})
            if isinstance(group, dict):
                group[nested[2]] = value
        else:
            out[key] = value
    return out


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(_CHUNK):
        yield chunk


@router.post("/files")
async def create(request: Request, caller: Caller) -> JSONResponse:
    """Upload: multipart ``file``, ``purpose``, optional ``expires_after[anchor]`` /
    ``expires_after[seconds]``. ``FileObject``; 400 for a bad field or no file part,
    413 over ``max_file_mb``."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequest("The request must be multipart/form-data with the file in a "
                             f"'file' field (got content type '{content_type}').")
    files = services(request).files
    request = _limited(request, files.max_bytes)
    async with request.form(max_files=1, max_fields=16) as form:
        texts: list[tuple[str, str]] = []
        upload: UploadFile | None = None
        for key, value in form.multi_items():
            if isinstance(value, str):
                texts.append((key, value))
            elif key == "file":
                upload = value
            else:
                raise InvalidRequest(f"Unexpected file field '{key}'.", param=key)
        fields = _fields(texts)
        if "file" in fields:
            raise InvalidRequest("'file' must be a file upload (a part with a filename), "
                                 "not a text field.", param="file")
        try:
            params = CreateParams.model_validate(fields)  # lax: form values are strings
        except ValidationError as exc:
            raise validation_error(exc) from None
        if upload is None:
            raise InvalidRequest("Missing required parameter: 'file'.", param="file")
        if upload.size is not None and upload.size > files.max_bytes:
            raise _too_large(files.max_bytes)
        expires = params.expires_after.model_dump() if params.expires_after else None
        obj = await files.create(caller.project_id, upload.filename or "upload",
                                 _chunks(upload), params.purpose, expires)
    return JSONResponse(obj)


@router.get("/files")
async def list_(request: Request, caller: Caller) -> JSONResponse:
    """``{"object": "list", "data": [FileObject], "first_id", "last_id", "has_more"}``;
    query ``purpose``, ``after``, ``limit`` (1..10000, default 10000), ``order``
    (default ``desc``)."""
    try:
        query = ListParams.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise validation_error(exc) from None
    return JSONResponse(await asyncio.to_thread(
        services(request).files.list, caller.project_id, purpose=query.purpose,
        after=query.after, limit=query.limit, order=query.order))


@router.get("/files/{file_id}")
async def retrieve(request: Request, caller: Caller, file_id: str) -> JSONResponse:
    """``FileObject``; 404 if the project has no such (unexpired) file."""
    return JSONResponse(await asyncio.to_thread(
        services(request).files.retrieve, caller.project_id, file_id))


@router.delete("/files/{file_id}")
async def delete(request: Request, caller: Caller, file_id: str) -> JSONResponse:
    """``{"id", "object": "file", "deleted": true}``; the bytes are removed too."""
    return JSONResponse(await asyncio.to_thread(
        services(request).files.delete, caller.project_id, file_id))


def _read_all(fh: BinaryIO) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


@router.get("/files/{file_id}/content")
async def content(request: Request, caller: Caller, file_id: str) -> Response:
    """The file's bytes as uploaded (``application/octet-stream``), streamed."""
    obj, fh = await asyncio.to_thread(services(request).files.open, caller.project_id, file_id)
    # a sync iterator: Starlette reads it on its thread pool
    return StreamingResponse(_read_all(fh), media_type="application/octet-stream",
                             headers={"content-length": str(obj["bytes"])})
