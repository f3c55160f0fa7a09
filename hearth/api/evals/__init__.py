"""``client.evals`` (OpenAI API reference: Evals): create, list, retrieve, update and
delete; every call is scoped to the caller's project. Runs: ``api/evals/runs``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import Paging
from hearth.domain import PageParams
from hearth.services.evals.params import CreateEvalParams, UpdateEvalParams

router = APIRouter()


@router.post("/evals")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``EvalCreateResponse``: body ``data_source_config``, ``testing_criteria``, ``name``,
    ``metadata``; 400 naming the bad ``param``, 404 for a judge model not served."""
    params = await parse_body(request, CreateEvalParams)
    return json_response(await svc.evals.create(caller, params))


@router.get("/evals")
async def list(
    caller: Caller,
    svc: Svc,
    page: Annotated[PageParams, Depends(Paging)],
    order_by: str = "created_at",
) -> JSONResponse:
    """``CursorPage[EvalListResponse]``: query ``after``, ``before``, ``limit`` (1..100,
    default 20), ``order`` (default ``asc``), ``order_by`` (``created_at`` |
    ``updated_at``)."""
    return json_response(await svc.evals.list(caller, page, order_by=order_by))


@router.get("/evals/{eval_id}")
async def retrieve(eval_id: str, caller: Caller, svc: Svc) -> JSONResponse:
    """``EvalRetrieveResponse``; 404."""
    return json_response(await svc.evals.retrieve(caller, eval_id))


@router.post("/evals/{eval_id}")
async def update(eval_id: str, request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``EvalUpdateResponse``: body ``name`` and/or ``metadata``; 404."""
    params = await parse_body(request, UpdateEvalParams)
    return json_response(await svc.evals.update(caller, eval_id, params))


@router.delete("/evals/{eval_id}")
async def delete(eval_id: str, caller: Caller, svc: Svc) -> JSONResponse:
    """``EvalDeleteResponse`` ``{"object": "eval.deleted", "deleted": true, "eval_id"}``;
    its runs and output items go too; 404."""
    return json_response(await svc.evals.delete(caller, eval_id))
