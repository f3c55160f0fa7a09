"""``client.admin.organization.admin_api_keys``: create (``value`` shown once), list,
retrieve, delete the organization's Admin API keys (``sk-admin-...``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import Paging
from hearth.domain import PageParams
from hearth.services.admin.params import AdminKeyCreate

router = APIRouter()


@router.post("/organization/admin_api_keys")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``admin_api_keys.create``: ``AdminAPIKeyCreateResponse`` (``value`` unredacted);
    body ``name``, ``expires_in_seconds``."""
    params = await parse_body(request, AdminKeyCreate)
    return json_response(await svc.admin.create_admin_key(caller, params))


@router.get("/organization/admin_api_keys")
async def list(
    caller: Caller, svc: Svc, page: Annotated[PageParams, Depends(Paging)]
) -> JSONResponse:
    """``admin_api_keys.list``: ``CursorPage[AdminAPIKey]`` (``limit``, ``after``,
    ``order``)."""
    return json_response(await svc.admin.list_admin_keys(caller, page))


@router.get("/organization/admin_api_keys/{key_id}")
async def retrieve(caller: Caller, svc: Svc, key_id: str) -> JSONResponse:
    """``admin_api_keys.retrieve``: ``AdminAPIKey``; 404 if unknown."""
    return json_response(await svc.admin.retrieve_admin_key(caller, key_id))


@router.delete("/organization/admin_api_keys/{key_id}")
async def delete(caller: Caller, svc: Svc, key_id: str) -> JSONResponse:
    """``admin_api_keys.delete``: ``AdminAPIKeyDeleteResponse``; it stops working."""
    return json_response(await svc.admin.delete_admin_key(caller, key_id))
