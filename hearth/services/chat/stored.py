"""Stored chat completions (OpenAI API reference: Chat Completions, ``store: true``):
``client.chat.completions.list / retrieve / update / delete`` and
``client.chat.completions.messages.list``, plus ``save`` (the create path) and ``select``
(evals' ``stored_completions`` data source).

Every call is scoped to the caller's project: another project's id is a 404. Objects are
the SDK's ``ChatCompletion`` (with the fields OpenAI adds to a stored one),
``ChatCompletionDeleted``, ``ChatCompletionStoreMessage`` and ``CursorPage``s of them.
Methods are async; database work runs on a worker thread (``StoredCompletionRepository``).
"""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

from openai.types.chat import (
    ChatCompletion,
    ChatCompletionDeleted,
    ChatCompletionStoreMessage,
)
from pydantic import BaseModel, ConfigDict

from hearth.domain import CursorPage, PageParams, Principal
from hearth.errors import NotFound
from hearth.services.chat.metadata import Metadata
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.responses.items import logged_record
from hearth.store.models import StoredCompletion
from hearth.store.responses import ResponseRepository
from hearth.store.stored_completions import StoredCompletionRepository


class UpdateParams(BaseModel):
    """Body of ``POST /v1/chat/completions/{id}``: only ``metadata`` (required; null
    clears it)."""

    model_config = ConfigDict(extra="forbid")

    metadata: Metadata


class StoredCompletions:
    """Save, list (model / metadata filters), retrieve, update metadata, delete, list a
    stored completion's request messages, and select stored completions for evals."""

    def __init__(
        self, repo: StoredCompletionRepository, responses: ResponseRepository | None = None
    ) -> None:
        self._repo = repo
        self._responses = responses

    async def save(
        self, caller: Principal, params: ChatCompletionParams, completion: ChatCompletion
    ) -> None:
        """Store ``completion`` in the caller's project with the request that produced it
        (``params`` as sent) and ``params.metadata``. Raises the database's error (e.g.
        for a project that no longer exists)."""
        request = params.model_dump(mode="json", exclude_unset=True, by_alias=True)
        response = completion.model_dump(mode="json", exclude_unset=True)
        await asyncio.to_thread(
            self._repo.insert,
            caller.project_id,
            request=request,
            response=response,
            metadata=params.metadata or {},
        )

    async def list(
        self,
        caller: Principal,
        page: PageParams,
        *,
        model: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> CursorPage[ChatCompletion]:
        """``ChatCompletionList``: stored completions (``retrieve``'s shape) in creation
        order, only those of ``model`` and carrying every ``metadata`` pair. Raises
        ``InvalidRequest`` for a cursor that is not one of them."""
        rows = await asyncio.to_thread(
            self._repo.page, caller.project_id, page, model=model, metadata=metadata
        )
        return rows.to(_completion)

    async def retrieve(self, caller: Principal, completion_id: str) -> ChatCompletion:
        """The stored ``ChatCompletion`` plus ``metadata`` and the request's sampling
        fields (as OpenAI returns a stored completion); ``NotFound`` otherwise."""
        row = await asyncio.to_thread(self._repo.get, caller.project_id, completion_id)
        if row is None:
            raise _not_found(completion_id)
        return _completion(row)

    async def update(
        self, caller: Principal, completion_id: str, params: UpdateParams
    ) -> ChatCompletion:
        """Replace the metadata (null clears it); the updated completion."""
        row = await asyncio.to_thread(
            self._repo.update_metadata,
            caller.project_id,
            completion_id,
            dict(params.metadata or {}),
        )
        if row is None:
            raise _not_found(completion_id)
        return _completion(row)

    async def delete(self, caller: Principal, completion_id: str) -> ChatCompletionDeleted:
        """``ChatCompletionDeleted``; ``NotFound`` for an unknown id."""
        if not await asyncio.to_thread(self._repo.delete, caller.project_id, completion_id):
            raise _not_found(completion_id)
        return ChatCompletionDeleted(
            id=completion_id, object="chat.completion.deleted", deleted=True
        )

    async def messages(
        self,
        caller: Principal,
        completion_id: str,
        page: PageParams,
    ) -> CursorPage[ChatCompletionStoreMessage]:
        """``ChatCompletionMessageList``: the request's messages as
        ``ChatCompletionStoreMessage`` (ids ``<completion id>-<index>``), paged like every
        list. Raises ``NotFound`` / ``InvalidRequest`` (a cursor naming no message)."""
        rows = await asyncio.to_thread(self._repo.messages, caller.project_id, completion_id, page)
        if rows is None:
            raise _not_found(completion_id)
        return rows.to(lambda item: _store_message(completion_id, *item))

    async def select(
        self,
        caller: Principal,
        *,
        metadata: dict[str, str] | None = None,
        model: str | None = None,
        created_after: int | None = None,
        created_before: int | None = None,
        limit: int | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """Stored completions of the caller's project for an eval's ``stored_completions``
        source, oldest first: ``{"id", "created_at", "model", "metadata", "request",
        "response"}`` each. Completed stored responses count too (as OpenAI's logs hold
        both), each as the chat completion it amounts to (``logged_record``).
        ``created_after`` / ``created_before`` are inclusive Unix seconds; ``limit`` keeps
        the most recent ones."""
        filters: dict[str, Any] = dict(
            metadata=metadata,
            model=model,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
        )
        rows = await asyncio.to_thread(self._repo.select, caller.project_id, **filters)
        records: builtins.list[dict[str, Any]] = [
            {
                "id": r.id,
                "created_at": r.created_at,
                "model": r.model,
                "metadata": dict(r.metadata_),
                "request": r.request,
                "response": r.response,
            }
            for r in rows
        ]
        if self._responses is not None:
            records += await asyncio.to_thread(self._response_records, caller, filters)
            records.sort(key=lambda r: r["created_at"])  # stable: each source in order
            if limit is not None:
                records = records[-limit:]
        return records

    def _response_records(
        self, caller: Principal, filters: dict[str, Any]
    ) -> builtins.list[dict[str, Any]]:
        assert self._responses is not None
        out = []
        for row in self._responses.select(caller.project_id, **filters):
            chain = []
            if row.previous_response_id:
                chain = self._responses.chain(caller.project_id, row.previous_response_id) or []
            context = [
                i for r in chain for i in (*r.input_items, *(r.response.get("output") or []))
            ]
            out.append(
                logged_record(row.response, row.request, context, row.input_items, row.metadata_)
            )
        return out


def _not_found(completion_id: str) -> NotFound:
    return NotFound(f"No chat completion found with id '{completion_id}'.")


def _completion(row: StoredCompletion) -> ChatCompletion:
    """The stored completion as OpenAI returns it: the ``ChatCompletion`` plus metadata
    and the request's sampling settings (defaults filled in as they were applied); the
    fields the SDK type does not declare are kept as its extras."""
    request = row.request

    def given(key: str, default: Any) -> Any:
        value = request.get(key)
        return default if value is None else value

    return ChatCompletion.model_validate(
        {
            **row.response,
            "metadata": dict(row.metadata_),
            "request_id": None,  # the x-request-id is not recorded with the row
            "service_tier": row.response.get("service_tier") or "default",
            "seed": request.get("seed"),
            "temperature": given("temperature", 1.0),
            "top_p": given("top_p", 1.0),
            "presence_penalty": given("presence_penalty", 0.0),
            "frequency_penalty": given("frequency_penalty", 0.0),
            "input_user": request.get("user"),
            "tools": request.get("tools"),
            "tool_choice": request.get("tool_choice"),
            "response_format": request.get("response_format"),
        }
    )


def _store_message(
    completion_id: str,
    index: int,
    message: dict[str, Any],
) -> ChatCompletionStoreMessage:
    """A request message as ``ChatCompletionStoreMessage``: an array of parts becomes
    its joined text in ``content`` and the parts in ``content_parts``; ``name`` is sent
    (null when absent) as OpenAI does."""
    content = message.get("content")
    parts = None
    if isinstance(content, list):
        parts = content
        content = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
    fields: dict[str, Any] = {
        "id": f"{completion_id}-{index}",
        "role": "assistant",
        "content": content,
        "name": message.get("name"),
        "content_parts": parts,
    }
    for key in ("tool_calls", "tool_call_id"):
        if message.get(key) is not None:
            fields[key] = message[key]
    out = ChatCompletionStoreMessage.model_validate(fields)
    # the SDK's role Literal is only "assistant" (it derives from ChatCompletionMessage);
    # the rest is validated, the message's own role set as it is
    out.role = message["role"]
    return out
