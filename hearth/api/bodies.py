"""JSON bodies in and out: strict parsing into our params models, SDK models out."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from hearth.api.errors import validation_error
from hearth.errors import InvalidRequest

P = TypeVar("P", bound=BaseModel)


async def parse_body(request: Request, model: type[P]) -> P:
    """The raw JSON body validated strictly as ``model`` (no coercion of "1" to 1);
    any problem is a 400 naming the field."""
    raw = await request.body()
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise validation_error(exc.errors()) from None


def json_response(model: BaseModel, status_code: int = 200) -> JSONResponse:
    """An SDK model as JSON, with exactly the fields that were set."""
    return JSONResponse(model.model_dump(mode="json", exclude_unset=True),
                        status_code=status_code)
