"""``client.admin.organization.projects.api_keys``: list, retrieve, update (scopes,
expiry) and delete a project's API keys (``/v1/organization/projects/{project_id}/
api_keys[/{api_key_id}]``). Keys are created through service accounts
(``service_accounts.api_keys.create``) or by ``hearth serve``'s bootstrap."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import Paging
from hearth.domain import PageParams
from hearth.services.admin.params import ApiKeyUpdate

router = APIRouter()

PATH = "/organization/projects/{project_id}/api_keys"


@router.get(PATH)
async def list(
    caller: Caller, svc: Svc, project_id: str, page: Annotated[PageParams, Depends(Paging)]
) -> JSONResponse:
    """``projects.api_keys.list``: ``CursorPage[ProjectAPIKey]`` (redacted); 404 for an
    unknown project."""
    return json_response(await svc.admin.list_api_keys(caller, project_id, page))


@router.get(PATH + "/{api_key_id}")
async def retrieve(caller: Caller, svc: Svc, project_id: str, api_key_id: str) -> JSONResponse:
    """``projects.api_keys.retrieve``: ``ProjectAPIKey``; 404 if unknown."""
    return json_response(await svc.admin.retrieve_api_key(caller, project_id, api_key_id))


@router.post(PATH + "/{api_key_id}")
async def update(
    request: Request, caller: Caller, svc: Svc, project_id: str, api_key_id: str
) -> JSONResponse:
    """``projects.api_keys.update``: ``ProjectAPIKey`` with new ``scopes`` (``[]``: all
    permissions, ``["api.all.read"]``: read only) and/or ``expires_in_seconds``; in
    force at once. 400 for an unknown scope, 404 for an unknown key."""
    params = await parse_body(request, ApiKeyUpdate)
    return json_response(await svc.admin.update_api_key(caller, project_id, api_key_id, params))


@router.delete(PATH + "/{api_key_id}")
async def delete(caller: Caller, svc: Svc, project_id: str, api_key_id: str) -> JSONResponse:
    """``projects.api_keys.delete``: ``APIKeyDeleteResponse``; the key stops working."""
    return json_response(await svc.admin.delete_api_key(caller, project_id, api_key_id))
