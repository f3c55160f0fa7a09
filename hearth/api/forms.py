"""``multipart/form-data`` bodies (file uploads), parsed by Starlette/python-multipart as
they arrive: the one parser of ``POST /v1/files`` and the audio uploads.

The file part spools to a temporary file (1 MB in memory at most), so a large upload is
never held in memory. The upload limit is enforced from ``Content-Length`` before anything
is read, while the body arrives (a chunked body is cut off once it passes the limit plus
the form's overhead) and on the parsed file: a 413 (``file_too_large``, param ``file``)
in each case. Text fields come back as strings; ``a[b]`` keys (how the SDK sends an
object) are nested as ``{"a": {"b": ...}}`` and ``a[]`` keys (an array) collected as
lists. Fields are validated with ``parse_fields``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.types import Message

from hearth.api.bodies import parse_fields
from hearth.errors import InvalidRequest
from hearth.store.blobs import too_large

P = TypeVar("P", bound=BaseModel)

_FORM_OVERHEAD = 1 << 20  # multipart framing and text fields around the file
_MAX_FIELDS = 64
_CHUNK = 1 << 20
_KEY = re.compile(r"^(\w+)\[(\w*)\]$")  # expires_after[seconds], include[]


@dataclass
class Form:
    """Text fields (``str``, ``dict`` for ``a[b]``, ``list`` for ``a[]``) and the one
    uploaded file (spooled; readable while the form is open)."""

    fields: dict[str, Any]
    file: UploadFile

    @property
    def filename(self) -> str:
        """The client's file name ("" when it sent none)."""
        return self.file.filename or ""

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes, 1 MB at a time."""
        while chunk := await self.file.read(_CHUNK):
            yield chunk

    async def read(self) -> bytes:
        """All of the file's bytes (for uploads small enough to hold: audio)."""
        return await self.file.read()


@asynccontextmanager
async def multipart(
    request: Request,
    limit: int,
    file_field: str = "file",
) -> AsyncIterator[Form]:
    """The form, with exactly one file, in ``file_field``, of at most ``limit`` bytes;
    its temporary file is removed on exit. Raises ``InvalidRequest`` (400: not
    multipart, malformed, no file, a text value for the file, another file field) or
    ``PayloadTooLarge`` (413)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequest(
            "The request must be multipart/form-data with the file in a "
            f"'{file_field}' field (got content type '{content_type}')."
        )
    async with _limited(request, limit).form(max_files=1, max_fields=_MAX_FIELDS) as form:
        texts: list[tuple[str, str]] = []
        upload: UploadFile | None = None
        for key, value in form.multi_items():
            if isinstance(value, str):
                texts.append((key, value))
            elif key == file_field:
                upload = value
            else:
                raise InvalidRequest(f"Unexpected file field '{key}'.", param=key)
        fields = _fields(texts)
        if file_field in fields:
            raise InvalidRequest(
                f"'{file_field}' must be a file upload (a part with a filename), not a text field.",
                param=file_field,
            )
        if upload is None:
            raise InvalidRequest(f"Missing required parameter: '{file_field}'.", param=file_field)
        if upload.size is not None and upload.size > limit:
            raise too_large(limit)
        yield Form(fields, upload)


async def read_upload(request: Request, limit: int, model: type[P]) -> tuple[P, str, bytes]:
    """``multipart`` for an upload small enough to hold: the fields validated as
    ``model`` (400 naming the field), the file's name and its bytes."""
    async with multipart(request, limit) as form:
        return parse_fields(form.fields, model), form.filename, await form.read()


def _limited(request: Request, limit: int) -> Request:
    """``request`` refusing (413) a body over ``limit`` plus the form's overhead, whether
    it declares its length or not, without buffering it."""
    cap = limit + _FORM_OVERHEAD
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise too_large(limit)
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > cap:
            raise too_large(limit)
        return message

    return Request(request.scope, receive)


def _fields(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Text fields, ``a[b]`` keys nested as ``{"a": {"b": ...}}``, ``a[]`` keys as lists
    (a later plain key replaces an earlier one)."""
    out: dict[str, Any] = {}
    for key, value in items:
        match = _KEY.match(key)
        if match is None:
            out[key] = value
            continue
        name, sub = match[1], match[2]
        group = out.setdefault(name, [] if sub == "" else {})
        if sub == "" and isinstance(group, list):
            group.append(value)
        elif sub and isinstance(group, dict):
            group[sub] = value
        else:
            raise InvalidRequest(
                f"Invalid form field '{key}': '{name}' is also sent with another shape.", param=name
            )
    return out
