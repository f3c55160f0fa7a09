"""Routes: see docs/distillation.md (skeleton)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from hearth.api.deps import authenticate

router = APIRouter(dependencies=[Depends(authenticate)])
