"""JSON bodies in and out: strict parsing into our params models, SDK models out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from hearth.api.deps import services
from hearth.errors import InvalidRequest, PayloadTooLarge, invalid_request

P = TypeVar("P", bound=BaseModel)


async def parse_body(request: Request, model: type[P]) -> P:
    """The raw JSON body validated strictly as ``model`` (no coercion of "1" to 1);
    any problem is a 400 naming the field: not JSON, not UTF-8, ``NaN`` / ``Infinity``,
    nested deeper than 200 levels. A body over ``max_body_mb`` is a 413
    (``request_too_large``), refused from its ``Content-Length`` or, sent chunked, as soon
    as it passes the limit, never read whole."""
    raw = await read_body(request, services(request).settings.api.max_body_bytes)
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    if b"NaN" in raw or b"Infinity" in raw:  # pydantic accepts them; JSON does not
        try:
            from_json(raw, allow_inf_nan=False)
        except ValueError as exc:
            raise InvalidRequest(
                f"We could not parse the JSON body of your request: "
                f"{exc}. The request body must be valid JSON."
            ) from None
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise invalid_request(exc) from None


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, at most ``limit`` bytes; ``PayloadTooLarge`` (413) once it
    declares or sends more, before the rest is read."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Request body too large: the limit is {limit} bytes.", code="request_too_large"
    )


def parse_fields(fields: Mapping[str, Any], model: type[P]) -> P:
    """Form fields or query values (strings, converted as form data must be) validated
    as ``model``; any problem is a 400 naming the field."""
    try:
        return model.model_validate(dict(fields))
    except ValidationError as exc:
        raise invalid_request(exc) from None


def json_response(model: BaseModel, status_code: int = 200) -> JSONResponse:
    """An SDK model as JSON, with exactly the fields that were set, by their wire names
    (the SDK aliases some: ``schema_`` is ``schema``)."""
    return JSONResponse(
        model.model_dump(mode="json", exclude_unset=True, by_alias=True), status_code=status_code
    )
