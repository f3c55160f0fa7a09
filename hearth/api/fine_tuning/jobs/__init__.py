"""``client.fine_tuning.jobs``: create, list, retrieve, cancel, pause, resume, list_events
(API reference: Fine-tuning); ``jobs.checkpoints`` is in ``checkpoints.py``. Every list
is newest first, as OpenAI's are."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc, metadata_filter
from hearth.api.pagination import paging
from hearth.domain import PageParams
from hearth.services.fine_tuning.params import JobParams

router = APIRouter()

Metadata = Annotated[dict[str, str] | None, Depends(metadata_filter)]


@router.post("/fine_tuning/jobs")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``client.fine_tuning.jobs.create``: ``FineTuningJob`` (``queued``) once the model,
    files and hyperparameters are valid; 400 / 404 naming the bad one."""
    params = await parse_body(request, JobParams)
    return json_response(await svc.fine_tuning.create(caller, params))


@router.get("/fine_tuning/jobs")
async def list(
    caller: Caller,
    svc: Svc,
    metadata: Metadata,
    page: Annotated[PageParams, Depends(paging(20, 100, "desc"))],
) -> JSONResponse:
    """``client.fine_tuning.jobs.list``: ``CursorPage[FineTuningJob]`` of the project,
    newest first (``limit`` 1..100, default 20); ``metadata[k]=v`` filters."""
    return json_response(await svc.fine_tuning.list(caller, page, metadata=metadata))


@router.get("/fine_tuning/jobs/{fine_tuning_job_id}")
async def retrieve(caller: Caller, svc: Svc, fine_tuning_job_id: str) -> JSONResponse:
    """``client.fine_tuning.jobs.retrieve``: ``FineTuningJob``; 404 if not the project's."""
    return json_response(await svc.fine_tuning.retrieve(caller, fine_tuning_job_id))


@router.post("/fine_tuning/jobs/{fine_tuning_job_id}/cancel")
async def cancel(caller: Caller, svc: Svc, fine_tuning_job_id: str) -> JSONResponse:
    """``client.fine_tuning.jobs.cancel``: ``FineTuningJob`` (``cancelled``); 400 for a
    job that has ended."""
    return json_response(await svc.fine_tuning.cancel(caller, fine_tuning_job_id))


@router.post("/fine_tuning/jobs/{fine_tuning_job_id}/pause")
async def pause(caller: Caller, svc: Svc, fine_tuning_job_id: str) -> JSONResponse:
    """``client.fine_tuning.jobs.pause``: ``FineTuningJob`` (``paused``); 400 unless it is
    queued or running."""
    return json_response(await svc.fine_tuning.pause(caller, fine_tuning_job_id))


@router.post("/fine_tuning/jobs/{fine_tuning_job_id}/resume")
async def resume(caller: Caller, svc: Svc, fine_tuning_job_id: str) -> JSONResponse:
    """``client.fine_tuning.jobs.resume``: ``FineTuningJob`` (``queued``); 400 unless it
    is paused."""
    return json_response(await svc.fine_tuning.resume(caller, fine_tuning_job_id))


@router.get("/fine_tuning/jobs/{fine_tuning_job_id}/events")
async def list_events(
    caller: Caller,
    svc: Svc,
    fine_tuning_job_id: str,
    page: Annotated[PageParams, Depends(paging(20, 100, "desc"))],
) -> JSONResponse:
    """``client.fine_tuning.jobs.list_events``: ``CursorPage[FineTuningJobEvent]``, status
    changes and per-step metrics, newest first (``limit`` 1..100, default 20)."""
    return json_response(await svc.fine_tuning.list_events(caller, fine_tuning_job_id, page))
