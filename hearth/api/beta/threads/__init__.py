"""``client.beta.threads``: ``POST /v1/threads``,
``GET|POST|DELETE /v1/threads/{thread_id}`` (OpenAI API reference: Assistants > Threads).
``create_and_run`` (``POST /v1/threads/runs``) is with the runs, whose router the app
includes before this one so ``runs`` is not read as a thread id."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.services.assistants.params import ThreadCreateParams, ThreadUpdateParams

router = APIRouter()


@router.post("/threads")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``client.beta.threads.create``: a ``Thread`` with its first ``messages`` (at most
    32). 404 for a file or vector store the project does not have; 400 for image
    content."""
    params = await parse_body(request, ThreadCreateParams)
    return json_response(await svc.threads.create(caller, params))


@router.get("/threads/{thread_id}")
async def retrieve(caller: Caller, svc: Svc, thread_id: str) -> JSONResponse:
    """``client.beta.threads.retrieve``; 404 if the project has no such thread."""
    return json_response(await svc.threads.retrieve(caller, thread_id))


@router.post("/threads/{thread_id}")
async def update(request: Request, caller: Caller, svc: Svc, thread_id: str) -> JSONResponse:
    """``client.beta.threads.update``: ``metadata``, ``tool_resources``."""
    params = await parse_body(request, ThreadUpdateParams)
    return json_response(await svc.threads.update(caller, thread_id, params))


@router.delete("/threads/{thread_id}")
async def delete(caller: Caller, svc: Svc, thread_id: str) -> JSONResponse:
    """``client.beta.threads.delete``: ``{"id", "object": "thread.deleted", "deleted":
    true}``; its messages and runs are gone."""
    return json_response(await svc.threads.delete(caller, thread_id))
