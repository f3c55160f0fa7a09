"""``client.admin.organization.projects.rate_limits``: a project's ``project.rate_limit``
per model (``rl-<model>``): list and update. Stored here; a limiter reads them through
``Admin.rate_limit_for``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import paging
from hearth.domain import PageParams
from hearth.services.admin.params import RateLimitUpdate

router = APIRouter()


@router.get("/organization/projects/{project_id}/rate_limits")
async def list_rate_limits(
    caller: Caller,
    svc: Svc,
    project_id: str,
    page: Annotated[PageParams, Depends(paging(100, 100))],
) -> JSONResponse:
    """``CursorPage[ProjectRateLimit]``: one per model the project can use, by model id
    (``limit`` 1..100, default 100; ``after`` / ``before``); 404 for an unknown project."""
    return json_response(await svc.admin.list_rate_limits(caller, project_id, page))


@router.post("/organization/projects/{project_id}/rate_limits/{rate_limit_id}")
async def update_rate_limit(
    request: Request, caller: Caller, svc: Svc, project_id: str, rate_limit_id: str
) -> JSONResponse:
    """``ProjectRateLimit`` with the given limits set (``max_requests_per_1_minute``,
    ``max_tokens_per_1_minute``, ... ; 0: none); 404 for an unknown project or model."""
    params = await parse_body(request, RateLimitUpdate)
    return json_response(
        await svc.admin.update_rate_limit(caller, project_id, rate_limit_id, params)
    )
