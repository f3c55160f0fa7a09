"""``client.models``: ``GET /v1/models``, ``GET`` and ``DELETE /v1/models/{model}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response
from hearth.api.deps import authenticate, services
from hearth.services.models import delete_model, list_models, retrieve_model
from hearth.domain import Principal

router = APIRouter()
Caller = Annotated[Principal, Depends(authenticate)]


@router.get("/models")
async def list_(request: Request, principal: Caller) -> JSONResponse:
    """The caller's organization's models: ``{"object": "list", "data": [Model]}``."""
    svc = services(request)
    data = [m.model_dump(mode="json", exclude_unset=True)
            for m in list_models(svc.models, svc.audio, principal.organization_id)]
    return JSONResponse({"object": "list", "data": data})


@router.get("/models/{model:path}")
async def retrieve(request: Request, principal: Caller, model: str) -> JSONResponse:
    """One ``Model``; 404 ``model_not_found`` (also for another organization's)."""
    svc = services(request)
    return json_response(retrieve_model(svc.models, svc.audio, model,
                                        principal.organization_id))


@router.delete("/models/{model:path}")
async def delete(request: Request, principal: Caller, model: str) -> JSONResponse:
    """Delete a fine-tuned model: ``ModelDeleted``; 403 for a base model, 404 unknown."""
    svc = services(request)
    return json_response(await delete_model(svc.models, svc.audio, model,
                                            principal.organization_id))
