"""``client.fine_tuning.jobs.checkpoints``: list (API reference: Fine-tuning → List
fine-tuning checkpoints)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import paging
from hearth.domain import PageParams

router = APIRouter()


@router.get("/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints")
async def list(
    caller: Caller,
    svc: Svc,
    fine_tuning_job_id: str,
    page: Annotated[PageParams, Depends(paging(10, 100, "desc"))],
) -> JSONResponse:
    """``client.fine_tuning.jobs.checkpoints.list``: ``CursorPage[FineTuningJobCheckpoint]``,
    one per epoch, newest first (``limit`` 1..100, default 10); each
    ``fine_tuned_model_checkpoint`` is a model id chat completions accept."""
    return json_response(await svc.fine_tuning.list_checkpoints(caller, fine_tuning_job_id, page))
