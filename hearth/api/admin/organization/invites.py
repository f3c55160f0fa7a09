"""``client.admin.organization.invites``: create (recorded, no email is sent), list,
retrieve, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import Paging
from hearth.domain import PageParams
from hearth.services.admin.params import InviteCreate

router = APIRouter()


@router.post("/organization/invites")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``invites.create``: ``Invite`` (``pending``, expires in 7 days); 400 for a bad
    body or a project that is not the organization's."""
    params = await parse_body(request, InviteCreate)
    return json_response(await svc.admin.create_invite(caller, params))


@router.get("/organization/invites")
async def list(
    caller: Caller, svc: Svc, page: Annotated[PageParams, Depends(Paging)]
) -> JSONResponse:
    """``invites.list``: ``CursorPage[Invite]``."""
    return json_response(await svc.admin.list_invites(caller, page))


@router.get("/organization/invites/{invite_id}")
async def retrieve(caller: Caller, svc: Svc, invite_id: str) -> JSONResponse:
    """``invites.retrieve``: ``Invite``; 404 if unknown."""
    return json_response(await svc.admin.retrieve_invite(caller, invite_id))


@router.delete("/organization/invites/{invite_id}")
async def delete(caller: Caller, svc: Svc, invite_id: str) -> JSONResponse:
    """``invites.delete``: ``InviteDeleteResponse``."""
    return json_response(await svc.admin.delete_invite(caller, invite_id))
