"""``client.models``: ``list``, ``retrieve`` and ``delete`` (OpenAI API reference: Models)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from hearth.api.bodies import json_response
from hearth.api.deps import Caller, Svc

router = APIRouter()


@router.get("/models")
async def list(caller: Caller, svc: Svc) -> Response:
    """``client.models.list``: ``{"object": "list", "data": [Model]}``, the models the
    caller's organization may use (base, its fine-tuned ones, speech)."""
    return json_response(await svc.models.list(caller))


@router.get("/models/{model:path}")
async def retrieve(model: str, caller: Caller, svc: Svc) -> Response:
    """``client.models.retrieve``: one ``Model``; 404 ``model_not_found`` (also for
    another organization's)."""
    return json_response(await svc.models.retrieve(caller, model))


@router.delete("/models/{model:path}")
async def delete(model: str, caller: Caller, svc: Svc) -> Response:
    """``client.models.delete``: delete a fine-tuned model of the caller's organization:
    ``ModelDeleted``; 403 for a base or speech model, 404 unknown."""
    return json_response(await svc.models.delete(caller, model))
