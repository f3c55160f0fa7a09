"""``client.admin.organization.projects``: ``POST|GET /v1/organization/projects``,
``GET|POST /v1/organization/projects/{project_id}``,
``POST /v1/organization/projects/{project_id}/archive``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import Paging
from hearth.domain import PageParams
from hearth.services.admin.params import ProjectCreate, ProjectUpdate

router = APIRouter()


@router.post("/organization/projects")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``projects.create``: ``Project`` (``status`` ``active``); 400 for a bad body."""
    params = await parse_body(request, ProjectCreate)
    return json_response(await svc.admin.create_project(caller, params))


@router.get("/organization/projects")
async def list(
    caller: Caller,
    svc: Svc,
    page: Annotated[PageParams, Depends(Paging)],
    include_archived: bool = False,
) -> JSONResponse:
    """``projects.list``: ``CursorPage[Project]``, oldest first (``limit`` 1..100, default
    20; ``after``); archived projects only with ``include_archived=true``."""
    return json_response(await svc.admin.list_projects(caller, page, include_archived))


@router.get("/organization/projects/{project_id}")
async def retrieve(caller: Caller, svc: Svc, project_id: str) -> JSONResponse:
    """``projects.retrieve``: ``Project``; 404 for an unknown id."""
    return json_response(await svc.admin.retrieve_project(caller, project_id))


@router.post("/organization/projects/{project_id}")
async def update(request: Request, caller: Caller, svc: Svc, project_id: str) -> JSONResponse:
    """``projects.update``: ``Project`` renamed; 400 if archived, 404 if unknown."""
    params = await parse_body(request, ProjectUpdate)
    return json_response(await svc.admin.update_project(caller, project_id, params))


@router.post("/organization/projects/{project_id}/archive")
async def archive(caller: Caller, svc: Svc, project_id: str) -> JSONResponse:
    """``projects.archive``: ``Project`` (``status`` ``archived``); its keys stop working."""
    return json_response(await svc.admin.archive_project(caller, project_id))
