"""``client.admin.organization.projects.service_accounts``: create (with its first API
key, shown once), list, retrieve, update and delete a project's service accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import Paging
from hearth.domain import PageParams
from hearth.services.admin.params import ServiceAccountCreate, ServiceAccountUpdate

router = APIRouter()

PATH = "/organization/projects/{project_id}/service_accounts"


@router.post(PATH)
async def create(request: Request, caller: Caller, svc: Svc, project_id: str) -> JSONResponse:
    """``projects.service_accounts.create``: ``ServiceAccountCreateResponse`` with
    ``api_key.value`` unredacted (none with ``create_service_account_only``); 400 for an
    archived project, 404 for an unknown one."""
    params = await parse_body(request, ServiceAccountCreate)
    return json_response(await svc.admin.create_service_account(caller, project_id, params))


@router.get(PATH)
async def list(
    caller: Caller, svc: Svc, project_id: str, page: Annotated[PageParams, Depends(Paging)]
) -> JSONResponse:
    """``projects.service_accounts.list``: ``CursorPage[ProjectServiceAccount]``."""
    return json_response(await svc.admin.list_service_accounts(caller, project_id, page))


@router.get(PATH + "/{service_account_id}")
async def retrieve(
    caller: Caller, svc: Svc, project_id: str, service_account_id: str
) -> JSONResponse:
    """``projects.service_accounts.retrieve``: ``ProjectServiceAccount``; 404 if unknown."""
    found = await svc.admin.retrieve_service_account(caller, project_id, service_account_id)
    return json_response(found)


@router.post(PATH + "/{service_account_id}")
async def update(
    request: Request, caller: Caller, svc: Svc, project_id: str, service_account_id: str
) -> JSONResponse:
    """``projects.service_accounts.update``: ``ProjectServiceAccount`` (``name``,
    ``role``)."""
    params = await parse_body(request, ServiceAccountUpdate)
    return json_response(
        await svc.admin.update_service_account(caller, project_id, service_account_id, params)
    )


@router.delete(PATH + "/{service_account_id}")
async def delete(
    caller: Caller, svc: Svc, project_id: str, service_account_id: str
) -> JSONResponse:
    """``projects.service_accounts.delete``: ``ServiceAccountDeleteResponse``; its keys
    stop working."""
    return json_response(
        await svc.admin.delete_service_account(caller, project_id, service_account_id)
    )
