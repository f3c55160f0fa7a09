"""``client.admin.organization.audit_logs.list``: ``GET /v1/organization/audit_logs``,
every admin write of the organization (docs/admin.md lists the event types)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import Paging
from hearth.domain import PageParams
from hearth.errors import InvalidRequest
from hearth.store.admin import AuditFilter

router = APIRouter()

BOUNDS = ("gt", "gte", "lt", "lte")


@router.get("/organization/audit_logs")
async def list(
    request: Request, caller: Caller, svc: Svc, page: Annotated[PageParams, Depends(Paging)]
) -> JSONResponse:
    """``CursorPage[AuditLogListResponse]``, oldest first (``limit`` 1..100, default 20;
    ``after`` / ``before``; ``order``). Filters, as the SDK sends them:
    ``event_types[]``, ``project_ids[]``, ``actor_ids[]`` (admin key ids),
    ``actor_emails[]``, ``resource_ids[]``, ``effective_at[gt|gte|lt|lte]`` (Unix s).
    400 for a bound that is not an integer Unix time."""
    query = request.query_params

    def values(name: str) -> Sequence[str]:
        return query.getlist(name) + query.getlist(f"{name}[]")

    bounds: dict[str, int] = {}
    for bound in BOUNDS:
        raw = query.get(f"effective_at[{bound}]")
        if raw is None:
            continue
        try:
            bounds[bound] = int(raw)
        except ValueError:
            bounds[bound] = -1 << 64  # out of range: refused below
        if not -(1 << 62) <= bounds[bound] <= 1 << 62:
            param = f"effective_at[{bound}]"
            raise InvalidRequest(f"Invalid '{param}': expected a Unix time.", param=param)
    where = AuditFilter(
        values("event_types"),
        values("project_ids"),
        values("actor_ids"),
        values("resource_ids"),
        bounds or None,
    )
    found = await svc.admin.list_audit_logs(caller, page, where, values("actor_emails"))
    return json_response(found)
