"""``client.beta.assistants``: ``POST|GET /v1/assistants``,
``GET|POST|DELETE /v1/assistants/{assistant_id}`` (OpenAI API reference: Assistants >
Assistants). The SDK's ``OpenAI-Beta: assistants=v2`` header is accepted, not required.

``hearth_router``: ``GET /hearth/assistants/{assistant_id}/responses_template``, Hearth's
own export of an assistant as a Responses request (``docs/assistants.md``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import paging
from hearth.domain import PageParams
from hearth.services.assistants.params import AssistantCreateParams, AssistantUpdateParams

router = APIRouter()
hearth_router = APIRouter()


@router.post("/assistants")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``client.beta.assistants.create``: an ``Assistant``. 404 for a model not served
    (``model_not_found``) or a file / vector store the project does not have; 400 naming
    the bad field (a tool, a schema, over 128 tools or 20 code interpreter files)."""
    params = await parse_body(request, AssistantCreateParams)
    return json_response(await svc.assistants.create(caller, params))


@router.get("/assistants")
async def list(
    caller: Caller,
    svc: Svc,
    page: Annotated[PageParams, Depends(paging(20, 100, "desc"))],
) -> JSONResponse:
    """``client.beta.assistants.list``: ``CursorPage[Assistant]`` (newest first)."""
    return json_response(await svc.assistants.list(caller, page))


@router.get("/assistants/{assistant_id}")
async def retrieve(caller: Caller, svc: Svc, assistant_id: str) -> JSONResponse:
    """``client.beta.assistants.retrieve``; 404 if the project has no such assistant."""
    return json_response(await svc.assistants.retrieve(caller, assistant_id))


@router.post("/assistants/{assistant_id}")
async def update(request: Request, caller: Caller, svc: Svc, assistant_id: str) -> JSONResponse:
    """``client.beta.assistants.update``: the fields sent replace the assistant's."""
    params = await parse_body(request, AssistantUpdateParams)
    return json_response(await svc.assistants.update(caller, assistant_id, params))


@router.delete("/assistants/{assistant_id}")
async def delete(caller: Caller, svc: Svc, assistant_id: str) -> JSONResponse:
    """``client.beta.assistants.delete``: ``{"id", "object": "assistant.deleted",
    "deleted": true}``."""
    return json_response(await svc.assistants.delete(caller, assistant_id))


@hearth_router.get("/hearth/assistants/{assistant_id}/responses_template")
async def responses_template(caller: Caller, svc: Svc, assistant_id: str) -> JSONResponse:
    """The assistant as a ``client.responses.create(**body)`` body: ``model``,
    ``instructions``, ``tools`` (Responses shapes; GPT actions as functions),
    ``temperature``, ``top_p``, ``text``. 404 if the project has no such assistant."""
    return JSONResponse(await svc.assistants.responses_template(caller, assistant_id))
