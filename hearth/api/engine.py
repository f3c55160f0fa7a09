"""Hearth's own operational endpoints (not part of OpenAI's API): health, engine stats."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hearth.api.deps import Caller, Svc

router = APIRouter()


@router.get("/health")
async def health() -> JSONResponse:
    """Liveness: ``{"status": "ok"}`` once models are loaded (no auth)."""
    return JSONResponse({"status": "ok"})


@router.get("/hearth/engine")
async def engine_stats(caller: Caller, svc: Svc) -> JSONResponse:
    """Per model: active/waiting requests, busy sequences, KV positions held per
    sequence id (as llama.cpp reports them), steps, tokens, mean step time (s), tokens
    drafted by prompt lookup and those kept; ``audio``:
    per speech model whether it is loaded, its load count and users, and audio jobs in
    flight; ``realtime``: open Realtime sessions; ``containers``: running code
    interpreter containers (memory, processes, disk, calls); ``code_interpreter``:
    whether containers can run here and, if not, why. Server-wide, so only for keys of the
    server's own organization (``Auth.require_operator``): 401 without a valid key, 403
    for other organizations' keys."""
    await svc.auth.require_operator(caller, "GET /hearth/engine")
    data = {m.id: dataclasses.asdict(m.stats) for m in svc.registry.loaded()}
    return JSONResponse(
        {
            "object": "hearth.engine_stats",
            "models": data,
            "audio": svc.audio.stats(),
            "embeddings": svc.embedding_models.stats(),
            "realtime": {"sessions_open": svc.realtime.sessions_open},
            "containers": svc.sandboxes.describe(),
            "code_interpreter": {
                "available": svc.sandboxes.reason is None,
                "reason": svc.sandboxes.reason,
            },
        }
    )
