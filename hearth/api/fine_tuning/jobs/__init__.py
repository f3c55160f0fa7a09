"""``client.fine_tuning.jobs``: create, list, retrieve, cancel, pause, resume, events and
checkpoints (API reference: Fine-tuning). Plain ``def`` routes run on FastAPI's thread pool
(they only read and write rows)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import parse_body
from hearth.api.deps import authenticate, metadata_filter, services
from hearth.services.fine_tuning.params import JobParams
from hearth.domain import Principal

router = APIRouter()
Caller = Annotated[Principal, Depends(authenticate)]


@router.post("/fine_tuning/jobs")
async def create(request: Request, principal: Caller) -> JSONResponse:
    """A new job (``queued``) after validating the model, files and hyperparameters."""
    params = await parse_body(request, JobParams)
    return JSONResponse(await services(request).fine_tuning.create(principal, params))


@router.get("/fine_tuning/jobs")
def list_(request: Request, principal: Caller, after: str | None = None,
                limit: int = 20) -> JSONResponse:
    """This project's jobs, newest first; ``metadata[k]=v`` filters."""
    return JSONResponse(services(request).fine_tuning.list(
        principal.project_id, after=after, limit=limit, metadata=metadata_filter(request)))


@router.get("/fine_tuning/jobs/{job_id}")
def retrieve(request: Request, principal: Caller, job_id: str) -> JSONResponse:
    return JSONResponse(services(request).fine_tuning.retrieve(principal.project_id, job_id))


@router.post("/fine_tuning/jobs/{job_id}/cancel")
def cancel(request: Request, principal: Caller, job_id: str) -> JSONResponse:
    return JSONResponse(services(request).fine_tuning.cancel(principal.project_id, job_id))


@router.post("/fine_tuning/jobs/{job_id}/pause")
def pause(request: Request, principal: Caller, job_id: str) -> JSONResponse:
    return JSONResponse(services(request).fine_tuning.pause(principal.project_id, job_id))


@router.post("/fine_tuning/jobs/{job_id}/resume")
def resume(request: Request, principal: Caller, job_id: str) -> JSONResponse:
    return JSONResponse(services(request).fine_tuning.resume(principal.project_id, job_id))


@router.get("/fine_tuning/jobs/{job_id}/events")
def events(request: Request, principal: Caller, job_id: str, after: str | None = None,
                 limit: int = 20) -> JSONResponse:
    """Status changes and per-step metrics, newest first."""
    return JSONResponse(services(request).fine_tuning.events(
        principal.project_id, job_id, after=after, limit=limit))


@router.get("/fine_tuning/jobs/{job_id}/checkpoints")
def checkpoints(request: Request, principal: Caller, job_id: str,
                      after: str | None = None, limit: int = 10) -> JSONResponse:
    """One checkpoint per epoch, newest first; each ``fine_tuned_model_checkpoint`` is a
    model id chat completions accept."""
    return JSONResponse(services(request).fine_tuning.checkpoints(
        principal.project_id, job_id, after=after, limit=limit))
