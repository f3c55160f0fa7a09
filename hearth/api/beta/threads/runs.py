"""``client.beta.threads.runs`` and ``.runs.steps``, and ``client.beta.threads.create_and_run``
(OpenAI API reference: Assistants > Runs, Run steps): runs of the caller's project.
``stream: true`` answers with the run's ``thread.*`` events (``event:`` lines), then
``event: done`` / ``data: [DONE]``.

A run still queued or in progress comes with ``openai-poll-after-ms`` (as OpenAI sends it):
the SDK's polling helpers (``create_and_poll``, ``poll``) wait that long before asking again
instead of their default second; their retrieves are long polls, answered as soon as the
run's status changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from openai.types.beta.threads import Run

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import paging
from hearth.api.responses import include_query
from hearth.api.sse import sse_response
from hearth.domain import PageParams
from hearth.services.assistants.runs import (
    CreateAndRunParams,
    RunParams,
    SubmitParams,
    UpdateParams,
)

POLL_AFTER_MS = 50
"""How long a client should wait before polling an active run again (ms)."""
LONG_POLL_SECONDS = 10.0
"""Longest a polling helper's retrieve waits for an active run's status to change."""

router = APIRouter()
Paging = Annotated[PageParams, Depends(paging(20, 100, "desc"))]


def run_response(run: Run, poll_after_ms: int = POLL_AFTER_MS) -> Response:
    """The run as JSON; ``openai-poll-after-ms`` while it is queued or in progress."""
    response = json_response(run)
    if run.status in ("queued", "in_progress", "cancelling"):
        response.headers["openai-poll-after-ms"] = str(poll_after_ms)
    return response


@router.post("/threads/runs")
async def create_and_run(request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.beta.threads.create_and_run``: a new thread and a ``queued`` run on it
    (streamed: ``thread.created``, then the run's events)."""
    params = await parse_body(request, CreateAndRunParams)
    if params.stream:
        return sse_response(await svc.runs.stream_create_and_run(caller, params), assistant=True)
    return run_response(await svc.runs.create_and_run(caller, params))


@router.post("/threads/{thread_id}/runs")
async def create(request: Request, thread_id: str, caller: Caller, svc: Svc) -> Response:
    """``client.beta.threads.runs.create`` (``create_and_poll``, ``stream``): a ``queued``
    run; 400 while the thread has an active run."""
    params = await parse_body(request, RunParams)
    include = include_query(request)
    if params.stream:
        events = await svc.runs.stream(caller, thread_id, params, include)
        return sse_response(events, assistant=True)
    return run_response(await svc.runs.create(caller, thread_id, params, include))


@router.get("/threads/{thread_id}/runs")
async def list_runs(thread_id: str, caller: Caller, svc: Svc, page: Paging) -> Response:
    """``client.beta.threads.runs.list``: the thread's runs, newest first."""
    return json_response(await svc.runs.list(caller, thread_id, page))


@router.get("/threads/{thread_id}/runs/{run_id}")
async def retrieve(
    request: Request, thread_id: str, run_id: str, caller: Caller, svc: Svc
) -> Response:
    """``client.beta.threads.runs.retrieve``: the run as it stands. The SDK's polling
    helpers (``X-Stainless-Poll-Helper: true``) get a long poll: an active run is answered
    when its status changes (at most ``LONG_POLL_SECONDS``), with
    ``openai-poll-after-ms: 0``."""
    if request.headers.get("x-stainless-poll-helper") == "true":
        run = await svc.runs.retrieve_when_changed(caller, thread_id, run_id, LONG_POLL_SECONDS)
        return run_response(run, poll_after_ms=0)
    return run_response(await svc.runs.retrieve(caller, thread_id, run_id))


@router.post("/threads/{thread_id}/runs/{run_id}")
async def update(
    request: Request, thread_id: str, run_id: str, caller: Caller, svc: Svc
) -> Response:
    """``client.beta.threads.runs.update``: its ``metadata``."""
    params = await parse_body(request, UpdateParams)
    return json_response(await svc.runs.update(caller, thread_id, run_id, params))


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel(thread_id: str, run_id: str, caller: Caller, svc: Svc) -> Response:
    """``client.beta.threads.runs.cancel``: the run, ``cancelled``."""
    return run_response(await svc.runs.cancel(caller, thread_id, run_id))


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(
    request: Request, thread_id: str, run_id: str, caller: Caller, svc: Svc
) -> Response:
    """``client.beta.threads.runs.submit_tool_outputs`` (``_and_poll``, ``_stream``): the
    run continues (``queued``)."""
    params = await parse_body(request, SubmitParams)
    if params.stream:
        events = await svc.runs.stream_submit_tool_outputs(caller, thread_id, run_id, params)
        return sse_response(events, assistant=True)
    return run_response(await svc.runs.submit_tool_outputs(caller, thread_id, run_id, params))


@router.get("/threads/{thread_id}/runs/{run_id}/steps")
async def list_steps(
    request: Request, thread_id: str, run_id: str, caller: Caller, svc: Svc, page: Paging
) -> Response:
    """``client.beta.threads.runs.steps.list``: the run's steps, newest first."""
    include = include_query(request)
    return json_response(await svc.runs.list_steps(caller, thread_id, run_id, page, include))


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
async def retrieve_step(
    request: Request, thread_id: str, run_id: str, step_id: str, caller: Caller, svc: Svc
) -> Response:
    """``client.beta.threads.runs.steps.retrieve``: one step."""
    include = include_query(request)
    return json_response(await svc.runs.retrieve_step(caller, thread_id, run_id, step_id, include))
