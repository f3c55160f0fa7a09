"""``client.models``: ``GET /v1/models``, ``GET /v1/models/{model}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response
from hearth.api.deps import authenticate, services
from hearth.services.models import list_models, retrieve_model

router = APIRouter(dependencies=[Depends(authenticate)])


@router.get("/models")
async def list_(request: Request) -> JSONResponse:
    """Every served model: ``{"object": "list", "data": [Model]}``."""
    data = [m.model_dump(mode="json", exclude_unset=True)
            for m in list_models(services(request).models, services(request).audio)]
    return JSONResponse({"object": "list", "data": data})


@router.get("/models/{model:path}")
async def retrieve(request: Request, model: str) -> JSONResponse:
    """One ``Model``; 404 ``model_not_found``."""
    svc = services(request)
    return json_response(retrieve_model(svc.models, svc.audio, model))
