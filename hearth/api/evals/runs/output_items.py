"""``client.evals.runs.output_items`` (OpenAI API reference: Evals > Output items): list
and retrieve a run's graded samples."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import Paging
from hearth.domain import PageParams

router = APIRouter()


@router.get("/evals/{eval_id}/runs/{run_id}/output_items")
async def list(
    eval_id: str,
    run_id: str,
    caller: Caller,
    svc: Svc,
    page: Annotated[PageParams, Depends(Paging)],
    status: str | None = None,
) -> JSONResponse:
    """``CursorPage[OutputItemListResponse]``: query ``after``, ``before``, ``limit``,
    ``order``, ``status`` (``pass`` | ``fail``, or Hearth's ``error``); 404 for the run."""
    return json_response(
        await svc.evals.runs.output_items.list(caller, eval_id, run_id, page, status=status)
    )


@router.get("/evals/{eval_id}/runs/{run_id}/output_items/{output_item_id}")
async def retrieve(
    eval_id: str, run_id: str, output_item_id: str, caller: Caller, svc: Svc
) -> JSONResponse:
    """``OutputItemRetrieveResponse``; 404."""
    return json_response(
        await svc.evals.runs.output_items.retrieve(caller, eval_id, run_id, output_item_id)
    )
