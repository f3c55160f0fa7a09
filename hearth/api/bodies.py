"""JSON bodies in and out: strict parsing into our params models, SDK models out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from hearth.errors import InvalidRequest, invalid_request

P = TypeVar("P", bound=BaseModel)


async def parse_body(request: Request, model: type[P]) -> P:
    """The raw JSON body validated strictly as ``model`` (no coercion of "1" to 1);
    any problem is a 400 naming the field."""
    raw = await request.body()
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    if b"NaN" in raw or b"Infinity" in raw:  # pydantic accepts them; JSON does not
        try:
            json.loads(raw, parse_constant=_no_constant)
        except ValueError as exc:
            raise InvalidRequest(
                f"We could not parse the JSON body of your request: "
                f"{exc}. The request body must be valid JSON."
            ) from None
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise invalid_request(exc) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"'{name}' is not a JSON number")


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
