"""``client.admin.organization.users``: the organization's users (its owner from the
first start): list, retrieve, update (role), delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import Paging
from hearth.domain import PageParams
from hearth.services.admin.params import UserUpdate

router = APIRouter()


@router.get("/organization/users")
async def list(
    request: Request, caller: Caller, svc: Svc, page: Annotated[PageParams, Depends(Paging)]
) -> JSONResponse:
    """``users.list``: ``CursorPage[OrganizationUser]``; ``emails`` (repeatable) filters."""
    query = request.query_params
    emails = query.getlist("emails") + query.getlist("emails[]")
    return json_response(await svc.admin.list_users(caller, page, emails))


@router.get("/organization/users/{user_id}")
async def retrieve(caller: Caller, svc: Svc, user_id: str) -> JSONResponse:
    """``users.retrieve``: ``OrganizationUser``; 404 if unknown."""
    return json_response(await svc.admin.retrieve_user(caller, user_id))


@router.post("/organization/users/{user_id}")
async def update(request: Request, caller: Caller, svc: Svc, user_id: str) -> JSONResponse:
    """``users.update``: ``OrganizationUser`` with its new ``role`` (``owner`` /
    ``reader``); 400 for taking the last owner's role."""
    params = await parse_body(request, UserUpdate)
    return json_response(await svc.admin.update_user(caller, user_id, params))


@router.delete("/organization/users/{user_id}")
async def delete(caller: Caller, svc: Svc, user_id: str) -> JSONResponse:
    """``users.delete``: ``UserDeleteResponse``; its admin keys go too; 400 for the last
    owner."""
    return json_response(await svc.admin.delete_user(caller, user_id))
