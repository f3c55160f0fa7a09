"""``client.evals.runs`` (OpenAI API reference: Evals > Runs): create, list, retrieve,
cancel and delete; output items: ``api/evals/runs/output_items.py``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import Paging
from hearth.domain import PageParams
from hearth.services.evals.params import CreateRunParams

router = APIRouter()


@router.post("/evals/{eval_id}/runs")
async def create(eval_id: str, request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``RunCreateResponse`` (``queued``): body ``data_source``, ``name``, ``metadata``;
    400 naming the bad ``param``, 404 for the eval, a file or a model."""
    params = await parse_body(request, CreateRunParams)
    return json_response(await svc.evals.runs.create(caller, eval_id, params))


@router.get("/evals/{eval_id}/runs")
async def list(
    eval_id: str,
    caller: Caller,
    svc: Svc,
    page: Annotated[PageParams, Depends(Paging)],
    status: str | None = None,
) -> JSONResponse:
    """``CursorPage[RunListResponse]``: query ``after``, ``before``, ``limit``, ``order``,
    ``status``; 404 for the eval."""
    return json_response(await svc.evals.runs.list(caller, eval_id, page, status=status))


@router.get("/evals/{eval_id}/runs/{run_id}")
async def retrieve(eval_id: str, run_id: str, caller: Caller, svc: Svc) -> JSONResponse:
    """``RunRetrieveResponse``; 404."""
    return json_response(await svc.evals.runs.retrieve(caller, eval_id, run_id))


@router.post("/evals/{eval_id}/runs/{run_id}/cancel")  # the SDK's path
@router.post("/evals/{eval_id}/runs/{run_id}")  # the API reference's path
async def cancel(eval_id: str, run_id: str, caller: Caller, svc: Svc) -> JSONResponse:
    """``RunCancelResponse``, ``canceled``; 400 for a finished run, 404."""
    return json_response(await svc.evals.runs.cancel(caller, eval_id, run_id))


@router.delete("/evals/{eval_id}/runs/{run_id}")
async def delete(eval_id: str, run_id: str, caller: Caller, svc: Svc) -> JSONResponse:
    """``RunDeleteResponse`` ``{"object": "eval.run.deleted", "deleted": true, "run_id"}``;
    404."""
    return json_response(await svc.evals.runs.delete(caller, eval_id, run_id))
