"""``client.evals``, ``client.evals.runs`` and ``client.evals.runs.output_items``
(OpenAI API reference: Evals). Every call is scoped to the caller's project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import parse_body
from hearth.api.deps import authenticate, services
from hearth.errors import InvalidRequest
from hearth.services.evals.service import (
    CreateEvalParams,
    CreateRunParams,
    Evals,
    UpdateEvalParams,
)
from hearth.domain import Principal
from hearth.store.pages import Order

router = APIRouter()
Caller = Annotated[Principal, Depends(authenticate)]


@dataclass
class _Paging:
    after: str | None
    limit: int
    order: Order


def _paging(request: Request) -> _Paging:
    """``after``, ``limit`` (default 20) and ``order`` (default ``asc``) from the query."""
    query = request.query_params
    raw = query.get("limit", "20")
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequest(f"Invalid 'limit': expected an integer, got {raw!r}.",
                             param="limit") from None
    order = query.get("order", "asc")
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid 'order': expected 'asc' or 'desc', got {order!r}.",
                             param="order", code="invalid_value")
    return _Paging(query.get("after"), limit, "asc" if order == "asc" else "desc")


def _evals(request: Request) -> Evals:
    return services(request).evals


def _json(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body)


@router.post("/evals")
async def create(request: Request, caller: Caller) -> JSONResponse:
    """``Eval``: body ``name``, ``data_source_config``, ``testing_criteria``, ``metadata``."""
    params = await parse_body(request, CreateEvalParams)
    return _json(await _evals(request).create(caller.project_id, caller.organization_id,
                                              params))


@router.get("/evals")
async def list_(request: Request, caller: Caller) -> JSONResponse:
    """List of ``Eval``; query ``after``, ``limit``, ``order``, ``order_by``
    (``created_at`` | ``updated_at``)."""
    page = _paging(request)
    return _json(await _evals(request).list(
        caller.project_id, after=page.after, limit=page.limit, order=page.order,
        order_by=request.query_params.get("order_by", "created_at")))


@router.get("/evals/{eval_id}")
async def retrieve(eval_id: str, request: Request, caller: Caller) -> JSONResponse:
    """One ``Eval``."""
    return _json(await _evals(request).retrieve(caller.project_id, eval_id))


@router.post("/evals/{eval_id}")
async def update(eval_id: str, request: Request, caller: Caller) -> JSONResponse:
    """Body ``name`` and/or ``metadata``; the updated ``Eval``."""
    params = await parse_body(request, UpdateEvalParams)
    return _json(await _evals(request).update(caller.project_id, eval_id, params))


@router.delete("/evals/{eval_id}")
async def delete(eval_id: str, request: Request, caller: Caller) -> JSONResponse:
    """``{"object": "eval.deleted", "deleted": true, "eval_id"}``."""
    return _json(await _evals(request).delete(caller.project_id, eval_id))


@router.post("/evals/{eval_id}/runs")
async def create_run(eval_id: str, request: Request, caller: Caller) -> JSONResponse:
    """``EvalRun`` (``queued``): body ``data_source``, ``name``, ``metadata``."""
    params = await parse_body(request, CreateRunParams)
    return _json(await _evals(request).create_run(
        caller.project_id, caller.organization_id, eval_id, params))


@router.get("/evals/{eval_id}/runs")
async def list_runs(eval_id: str, request: Request, caller: Caller) -> JSONResponse:
    """List of ``EvalRun``; query ``after``, ``limit``, ``order``, ``status``."""
    page = _paging(request)
    return _json(await _evals(request).list_runs(
        caller.project_id, eval_id, after=page.after, limit=page.limit, order=page.order,
        status=request.query_params.get("status")))


@router.get("/evals/{eval_id}/runs/{run_id}")
async def retrieve_run(eval_id: str, run_id: str, request: Request,
                       caller: Caller) -> JSONResponse:
    """One ``EvalRun``."""
    return _json(await _evals(request).retrieve_run(caller.project_id, eval_id, run_id))


@router.post("/evals/{eval_id}/runs/{run_id}/cancel")  # the SDK's path
@router.post("/evals/{eval_id}/runs/{run_id}")  # the API reference's path
async def cancel_run(eval_id: str, run_id: str, request: Request,
                     caller: Caller) -> JSONResponse:
    """The ``EvalRun``, ``canceled``."""
    return _json(await _evals(request).cancel_run(caller.project_id, eval_id, run_id))


@router.delete("/evals/{eval_id}/runs/{run_id}")
async def delete_run(eval_id: str, run_id: str, request: Request,
                     caller: Caller) -> JSONResponse:
    """``{"object": "eval.run.deleted", "deleted": true, "run_id"}``."""
    return _json(await _evals(request).delete_run(caller.project_id, eval_id, run_id))


@router.get("/evals/{eval_id}/runs/{run_id}/output_items")
async def list_output_items(eval_id: str, run_id: str, request: Request,
                            caller: Caller) -> JSONResponse:
    """List of output items; query ``after``, ``limit``, ``order``, ``status``
    (``pass`` | ``fail``)."""
    page = _paging(request)
    return _json(await _evals(request).list_output_items(
        caller.project_id, eval_id, run_id, after=page.after, limit=page.limit,
        order=page.order, status=request.query_params.get("status")))


@router.get("/evals/{eval_id}/runs/{run_id}/output_items/{output_item_id}")
async def retrieve_output_item(eval_id: str, run_id: str, output_item_id: str,
                               request: Request, caller: Caller) -> JSONResponse:
    """One output item."""
    return _json(await _evals(request).retrieve_output_item(
        caller.project_id, eval_id, run_id, output_item_id))
