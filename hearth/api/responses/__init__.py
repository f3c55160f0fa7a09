"""``client.responses``: ``POST /v1/responses`` (JSON, SSE, or background),
``GET|DELETE /v1/responses/{id}``, ``POST /v1/responses/{id}/cancel`` and
``POST /v1/responses/compact`` (OpenAI API reference: Responses; the Open Responses
specification), and Hearth's own ``GET /v1/responses`` (a list of stored responses, which
OpenAI's API does not have). Responses are scoped to the caller's project."""

from __future__ import annotations

import builtins
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc, metadata_filter
from hearth.api.disconnect import unless_client_leaves
from hearth.api.pagination import paging
from hearth.api.sse import sse_response
from hearth.domain import PageParams
from hearth.errors import InvalidRequest
from hearth.services.responses.params import CompactParams, CreateParams

router = APIRouter()


@router.post("/responses")
async def create(request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.responses.create``: a ``Response``; with ``stream: true`` its typed events
    (each with an ``event:`` line and a ``sequence_number``; no ``[DONE]``); with
    ``background: true`` the ``queued`` response at once. Errors found before generation
    are plain 400/404 responses; a failure later is an ``error`` event then
    ``response.failed``. A client that leaves stops a foreground response."""
    params = await parse_body(request, CreateParams)
    if params.stream:
        return sse_response(await svc.responses.stream(caller, params), done=False, named=True)
    result = await unless_client_leaves(request, svc.responses.create(caller, params))
    if result is None:
        return Response(status_code=499)  # nobody is listening
    return json_response(result)


@router.post("/responses/compact")
async def compact(request: Request, caller: Caller, svc: Svc) -> Response:
    """``client.responses.compact``: ``response.compaction`` (user messages + one
    ``compaction`` item standing for the rest)."""
    params = await parse_body(request, CompactParams)
    return json_response(await svc.responses.compact(caller, params))


def include_query(request: Request) -> builtins.list[str]:
    """The query's ``include`` values (the SDK sends ``include[]=...``)."""
    params = request.query_params
    return params.getlist("include[]") + params.getlist("include")


@router.get("/responses")
async def list(
    request: Request,
    caller: Caller,
    svc: Svc,
    page: Annotated[PageParams, Depends(paging(20, 100, "desc"))],
    model: str | None = None,
) -> Response:
    """Hearth's own list of stored responses (OpenAI's API has none; the dashboard's Logs
    use it): ``{"object": "list", "data": [Response], "first_id", "last_id",
    "has_more"}``, each as ``retrieve`` returns it; query ``model``,
    ``metadata[key]=value`` (every pair must match), ``after``, ``before``, ``limit`` (20,
    at most 100), ``order`` (``desc``, newest first). The SDK reads it with
    ``client.get_api_list("/responses", model=Response, page=CursorPage[Response])``."""
    return json_response(
        await svc.responses.list(caller, page, model=model, metadata=metadata_filter(request))
    )


@router.get("/responses/{response_id}")
async def retrieve(request: Request, response_id: str, caller: Caller, svc: Svc) -> Response:
    """``client.responses.retrieve``: the stored ``Response`` (a background one as it
    stands: ``queued``, ``in_progress``, then its final state); ``include`` as
    ``create``'s. With ``stream=true``, a background response's events (SSE, from the
    first or after ``starting_after``), live from whichever replica runs it; leaving
    stops listening, not the response."""
    include = include_query(request)
    query = request.query_params
    if _flag(query.get("stream"), "stream"):
        after = query.get("starting_after")
        if after is not None and not after.lstrip("-").isdigit():
            raise InvalidRequest(
                f"Invalid 'starting_after': expected an integer, got '{after}'.",
                param="starting_after",
            )
        events = await svc.responses.stream_events(
            caller, response_id, None if after is None else int(after)
        )
        return sse_response(events, done=False, named=True)
    return json_response(await svc.responses.retrieve(caller, response_id, include))


def _flag(value: str | None, name: str) -> bool:
    """A boolean query parameter as the SDK writes it (``true`` / ``false``)."""
    if value is None or value in ("false", "False", "0"):
        return False
    if value in ("true", "True", "1"):
        return True
    raise InvalidRequest(f"Invalid '{name}': expected a boolean, got '{value}'.", param=name)


@router.delete("/responses/{response_id}")
async def delete(response_id: str, caller: Caller, svc: Svc) -> Response:
    """``client.responses.delete``: ``{"id", "object": "response.deleted", "deleted"}``."""
    return json_response(await svc.responses.delete(caller, response_id))


@router.post("/responses/{response_id}/cancel")
async def cancel(response_id: str, caller: Caller, svc: Svc) -> Response:
    """``client.responses.cancel``: a background response, now ``cancelled``."""
    return json_response(await svc.responses.cancel(caller, response_id))
