"""``client.admin.organization.projects.service_accounts.api_keys.create``: a new API
key of a service account, with its permissions (``scopes``): Hearth's way to make
restricted and read-only project keys (docs/admin.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.services.admin.params import ServiceAccountKeyCreate

router = APIRouter()


@router.post("/organization/projects/{project_id}/service_accounts/{service_account_id}/api_keys")
async def create(
    request: Request, caller: Caller, svc: Svc, project_id: str, service_account_id: str
) -> JSONResponse:
    """``APIKeyCreateResponse`` with ``value`` unredacted (shown once); body ``name``,
    ``scopes`` (none: all permissions; ``["api.all.read"]``: read only; else OpenAI's
    scope names), ``expires_in_seconds``. 400 for an unknown scope or an archived
    project, 404 for an unknown service account."""
    params = await parse_body(request, ServiceAccountKeyCreate)
    return json_response(
        await svc.admin.create_service_account_key(caller, project_id, service_account_id, params)
    )
