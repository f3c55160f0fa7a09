"""``client.embeddings``: ``POST /v1/embeddings`` (OpenAI API reference: Embeddings)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hearth.api.bodies import json_response, parse_body
from hearth.api.deps import Caller, Svc
from hearth.services.embeddings import EmbeddingParams

router = APIRouter()


@router.post("/embeddings")
async def create(request: Request, caller: Caller, svc: Svc) -> JSONResponse:
    """``client.embeddings.create``: a ``CreateEmbeddingResponse`` (vectors as floats or,
    with ``encoding_format: "base64"``, base64 float32 strings)."""
    params = await parse_body(request, EmbeddingParams)
    return json_response(await svc.embeddings.create(caller, params))
