"""``/v1/organization/usage/{kind}`` and ``/v1/organization/costs`` (OpenAI API
reference: "Usage", "Costs"; the SDK's ``client.admin.organization.usage``): the
organization's recorded usage in time buckets, for an admin key."""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import parse_fields
from hearth.api.deps import Caller, Svc
from hearth.services.usage import Kind, UsageQuery

router = APIRouter()

LISTS = frozenset(
    {
        "group_by",
        "project_ids",
        "user_ids",
        "api_key_ids",
        "models",
        "line_items",
        "sources",
        "sizes",
    }
)
"""The query fields that are lists."""


def usage_query(request: Request) -> UsageQuery:
    """The query string as ``UsageQuery``: list fields from ``name[]=`` (as the SDK sends
    them) or repeated ``name=``; a 400 naming the field for a bad value or an unknown
    one."""
    fields: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        name = key.removesuffix("[]")
        if name in LISTS:
            fields.setdefault(name, []).append(value)
        else:
            fields[name] = value
    return parse_fields(fields, UsageQuery)


def usage_route(kind: Kind) -> None:
    """``GET /organization/usage/{kind}``, one route per kind, as OpenAI's document lists
    them."""

    async def usage(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
        """``client.admin.organization.usage.<kind>``: a page of buckets (``start_time``,
        ``end_time``, ``bucket_width`` ``1m``/``1h``/``1d``, ``group_by``, ``project_ids``,
        ``api_key_ids``, ``models``, ``batch``, ``limit``, ``page``)."""
        page = await svc.usage.usage(caller.organization_id, kind, usage_query(request))
        return JSONResponse(page)

    router.add_api_route(f"/organization/usage/{kind}", usage, methods=["GET"], name=kind)


for _kind in get_args(Kind):
    usage_route(_kind)


@router.get("/organization/costs")
async def costs(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``client.admin.organization.usage.costs``: a page of daily buckets of amounts in
    USD from the price table (``HEARTH_PRICES``), grouped by ``project_id``,
    ``line_item`` or ``api_key_id``."""
    return JSONResponse(await svc.usage.costs(caller.organization_id, usage_query(request)))
