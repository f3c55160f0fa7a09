"""``client.chat.completions.messages``: ``list`` (OpenAI API reference: Chat Completions,
"Get chat messages"), the request messages of a stored completion."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from hearth.api.bodies import json_response
from hearth.api.deps import Caller, Svc
from hearth.api.pagination import Paging
from hearth.domain import PageParams

router = APIRouter()


@router.get("/chat/completions/{completion_id}/messages")
async def list(
    completion_id: str, caller: Caller, svc: Svc, page: Annotated[PageParams, Depends(Paging)]
) -> Response:
    """``client.chat.completions.messages.list``: ``CursorPage[ChatCompletionStoreMessage]``
    (ids ``<completion id>-<index>``); ``after``, ``before``, ``limit`` (20, at most 100),
    ``order`` (``asc``). 404 if the completion is not stored in the caller's project."""
    return json_response(await svc.stored_completions.messages(caller, completion_id, page))
