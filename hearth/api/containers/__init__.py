"""``client.containers``: ``POST|GET /v1/containers``,
``GET|DELETE /v1/containers/{container_id}`` (OpenAI API reference: Containers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import paging
from hearth.domain import PageParams
from hearth.services.containers import CreateParams

router = APIRouter()


@router.post("/containers")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``client.containers.create``: ``name``, ``file_ids``, ``expires_after``
    (``minutes``, default 20), ``memory_limit`` (default ``1g``), ``network_policy``
    (``disabled`` only). A ``running`` container; 400 when code interpreter is not
    available on this server."""
    params = await parse_body(request, CreateParams)
    return json_response(await svc.containers.create(caller, params))


@router.get("/containers")
async def list(
    caller: Caller,
    svc: Svc,
    page: Annotated[PageParams, Depends(paging(20, 100, "desc"))],
    name: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """``client.containers.list``: ``CursorPage[ContainerListResponse]`` (newest first),
    only containers called ``name`` when given."""
    return json_response(await svc.containers.list(caller, page, name=name))


@router.get("/containers/{container_id}")
async def retrieve(caller: Caller, svc: Svc, container_id: str) -> JSONResponse:
    """``client.containers.retrieve``: status ``running`` or ``expired``; 404 if the
    project has no such container."""
    return json_response(await svc.containers.retrieve(caller, container_id))


@router.delete("/containers/{container_id}")
async def delete(caller: Caller, svc: Svc, container_id: str) -> JSONResponse:
    """``client.containers.delete``: ``{"id", "object": "container.deleted", "deleted"}``;
    its kernel and files are gone."""
    return json_response(await svc.containers.delete(caller, container_id))
