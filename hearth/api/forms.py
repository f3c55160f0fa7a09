"""``multipart/form-data`` bodies (file uploads), parsed by Starlette/python-multipart.

Fields come back as strings (``name[]`` fields, as the SDK sends arrays, as lists) and one
uploaded file; the upload limit is enforced from ``Content-Length`` before anything is
read (a body without one, chunked, is read into memory up to the limit and then parsed),
and again on the parsed file.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.types import Message

from hearth.errors import InvalidRequest, PayloadTooLarge

_FORM_OVERHEAD = 1 << 20  # multipart framing and text fields around the file


@dataclass
class Form:
    """Text fields (``str`` or ``list[str]``), and the file field's name and bytes."""

    fields: dict[str, str | list[str]]
    filename: str | None
    data: bytes | None


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Maximum content size limit ({limit} bytes) exceeded.",
                           param="file", code="file_too_large")


async def parse_form(request: Request, file_field: str, limit: int) -> Form:
    """The form with one file field of at most ``limit`` bytes. Raises ``InvalidRequest``
    (400: not multipart, malformed) or ``PayloadTooLarge`` (413)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequest("The request must be multipart/form-data with the audio in a "
                             f"'{file_field}' field (got content type '{content_type}').")
    length = request.headers.get("content-length")
    if length is None:
        request = await _buffered(request, limit + _FORM_OVERHEAD, limit)
    elif length.isdigit() and int(length) > limit + _FORM_OVERHEAD:
        raise _too_large(limit)
    fields: dict[str, str | list[str]] = {}
    filename: str | None = None
    data: bytes | None = None
    async with request.form(max_files=1, max_fields=64) as form:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != file_field:
                    raise InvalidRequest(f"Unexpected file field '{key}'.", param=key)
                if value.size is not None and value.size > limit:
                    raise _too_large(limit)
                data = await value.read(limit + 1)
                if len(data) > limit:
                    raise _too_large(limit)
                filename = value.filename or ""
            elif key.endswith("[]"):
                items = fields.setdefault(key[:-2], [])
                if isinstance(items, list):
                    items.append(value)
            else:
                fields[key] = value
    return Form(fields, filename, data)


async def _buffered(request: Request, cap: int, limit: int) -> Request:
    """A request whose body (no Content-Length) was read, refusing more than ``cap``
    bytes, and is replayed to the form parser."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise _too_large(limit)
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    return Request(request.scope, receive)
