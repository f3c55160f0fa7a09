"""``client.responses.input_items.list``: ``GET /v1/responses/{id}/input_items``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hearth.api.bodies import json_response
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import paging
from hearth.api.responses import include_query
from hearth.domain import PageParams

router = APIRouter()


@router.get("/responses/{response_id}/input_items")
async def list(
    response_id: str,
    caller: Caller,
    svc: Svc,
    page: Annotated[PageParams, Depends(paging(20, 100, "desc"))],
    request: Request,
) -> Response:
    """``client.responses.input_items.list``: the response's input items (newest first by
    default); ``include`` as ``create``'s."""
    include = include_query(request)
    return json_response(await svc.responses.input_items(caller, response_id, page, include))
