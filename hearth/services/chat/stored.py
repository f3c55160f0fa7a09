"""Stored chat completions (OpenAI API reference: Chat Completions, ``store: true``;
list / retrieve / update / delete / messages).

A row keeps the request as sent, the ``ChatCompletion`` as returned and the caller's
``metadata``; every lookup is scoped to one project, so another project's id is a 404.
Methods are synchronous (SQLAlchemy sessions): async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import builtins
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from hearth.errors import InvalidRequest, NotFound
from hearth.services.chat.metadata import Metadata
from hearth.store.models import StoredCompletion, next_seq
from hearth.store.pages import Order, check_limit, list_body, paginate


class UpdateParams(BaseModel):
    """Body of ``POST /v1/chat/completions/{id}``: only ``metadata`` (required; null
    clears it)."""

    model_config = ConfigDict(extra="forbid")

    metadata: Metadata


class StoredCompletions:
    """Persist, list (model / metadata filters), retrieve, update metadata, delete, and
    list a stored completion's request messages."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def save(self, project_id: str, request: dict[str, Any], completion: dict[str, Any],
             metadata: dict[str, str]) -> None:
        """Store ``completion`` (a ``ChatCompletion`` as JSON; its ``id``, ``model`` and
        ``created`` become the row's) with the ``request`` body that produced it."""
        with self._sessions.begin() as session:
            session.add(StoredCompletion(
                id=completion["id"], project_id=project_id, model=completion["model"],
                request=request, response=completion, metadata_=dict(metadata),
                created_at=completion["created"], seq=next_seq()))

    def list(self, project_id: str, *, model: str | None = None,
             metadata: dict[str, str] | None = None, after: str | None = None,
             limit: int = 20, order: Order = "asc") -> dict[str, Any]:
        """``ChatCompletionList``: stored completions (``retrieve``'s shape) in creation
        order, only those of ``model`` and carrying every ``metadata`` pair; ``limit``
        1..100. Raises ``InvalidRequest`` for a bad ``limit``/``order``/``after``."""
        check_limit(limit)
        with self._sessions() as session:
            stmt = _filtered(project_id, model, metadata)
            page = paginate(session, stmt, StoredCompletion, after=after, limit=limit,
                            order=order)
            return list_body([_completion(row) for row in page.items], page.has_more)

    def retrieve(self, project_id: str, completion_id: str) -> dict[str, Any]:
        """The stored ``ChatCompletion`` plus ``metadata`` and the request's sampling
        fields (as OpenAI returns a stored completion); ``NotFound`` otherwise."""
        with self._sessions() as session:
            return _completion(_get(session, project_id, completion_id))

    def update(self, project_id: str, completion_id: str,
               metadata: dict[str, str] | None) -> dict[str, Any]:
        """Replace the metadata (``None`` clears it); the updated completion."""
        with self._sessions.begin() as session:
            row = _get(session, project_id, completion_id)
            row.metadata_ = dict(metadata or {})
            return _completion(row)

    def delete(self, project_id: str, completion_id: str) -> dict[str, Any]:
        """``ChatCompletionDeleted``; ``NotFound`` for an unknown id."""
        with self._sessions.begin() as session:
            session.delete(_get(session, project_id, completion_id))
        return {"id": completion_id, "object": "chat.completion.deleted", "deleted": True}

    def messages(self, project_id: str, completion_id: str, *, after: str | None = None,
                 limit: int = 20, order: Order = "asc") -> dict[str, Any]:
        """``ChatCompletionMessageList``: the request's messages as
        ``ChatCompletionStoreMessage`` (ids ``<completion id>-<index>``), paginated like
        every list. Raises ``NotFound`` / ``InvalidRequest``."""
        check_limit(limit)
        if order not in ("asc", "desc"):
            raise InvalidRequest(f"Invalid 'order': expected 'asc' or 'desc', got "
                                 f"{order!r}.", param="order")
        with self._sessions() as session:
            row = _get(session, project_id, completion_id)
            items = [_store_message(row.id, i, m)
                     for i, m in enumerate(row.request.get("messages", []))]
        if order == "desc":
            items.reverse()
        start = 0
        if after is not None:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise InvalidRequest(f"No such object for 'after': {after!r}.", param="after")
            start = ids.index(after) + 1
        page = items[start:start + limit]
        return list_body(page, start + limit < len(items))

    def select(self, project_id: str, *, metadata: dict[str, str] | None = None,
               model: str | None = None, created_after: int | None = None,
               created_before: int | None = None, limit: int | None = None,
               ) -> builtins.list[dict[str, Any]]:
        """Stored completions for an eval's ``stored_completions`` source, oldest first:
        ``{"id", "created_at", "model", "metadata", "request", "response"}`` each.
        ``created_after`` / ``created_before`` are inclusive Unix seconds; ``limit`` keeps
        the most recent ones."""
        stmt = _filtered(project_id, model, metadata)
        if created_after is not None:
            stmt = stmt.where(StoredCompletion.created_at >= created_after)
        if created_before is not None:
            stmt = stmt.where(StoredCompletion.created_at <= created_before)
        stmt = stmt.order_by(StoredCompletion.seq.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._sessions() as session:
            rows = list(session.scalars(stmt))
        return [{"id": r.id, "created_at": r.created_at, "model": r.model,
                 "metadata": dict(r.metadata_), "request": r.request, "response": r.response}
                for r in reversed(rows)]


def _filtered(project_id: str, model: str | None,
              metadata: dict[str, str] | None) -> Select[StoredCompletion]:
    stmt = select(StoredCompletion).where(StoredCompletion.project_id == project_id)
    if model is not None:
        stmt = stmt.where(StoredCompletion.model == model)
    for key, value in (metadata or {}).items():
        if '"' in key:  # SQLite's JSON paths cannot quote a double quote
            raise InvalidRequest("Metadata filter keys may not contain '\"'.",
                                 param="metadata")
        stmt = stmt.where(StoredCompletion.metadata_[key].as_string() == value)
    return stmt


def _get(session: Session, project_id: str, completion_id: str) -> StoredCompletion:
    row = session.get(StoredCompletion, completion_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"No chat completion found with id '{completion_id}'.")
    return row


def _completion(row: StoredCompletion) -> dict[str, Any]:
    """The stored completion as OpenAI returns it: the ``ChatCompletion`` plus metadata
    and the request's sampling settings (defaults filled in as they were applied)."""
    request = row.request

    def given(key: str, default: Any) -> Any:
        value = request.get(key)
        return default if value is None else value

    return {**row.response, "metadata": dict(row.metadata_),
            "request_id": None,  # Hearth sends no x-request-id
            "service_tier": row.response.get("service_tier") or "default",
            "seed": request.get("seed"), "temperature": given("temperature", 1.0),
            "top_p": given("top_p", 1.0), "presence_penalty": given("presence_penalty", 0.0),
            "frequency_penalty": given("frequency_penalty", 0.0),
            "input_user": request.get("user"), "tools": request.get("tools"),
            "tool_choice": request.get("tool_choice"),
            "response_format": request.get("response_format")}


def _store_message(completion_id: str, index: int, message: dict[str, Any]) -> dict[str, Any]:
    """A request message as ``ChatCompletionStoreMessage``: an array of parts becomes
    its joined text in ``content`` and the parts in ``content_parts``."""
    content = message.get("content")
    parts = None
    if isinstance(content, list):
        parts = content
        content = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
    out = {"id": f"{completion_id}-{index}", "role": message["role"], "content": content,
           "name": message.get("name"), "content_parts": parts}
    for key in ("tool_calls", "tool_call_id"):
        if message.get(key) is not None:
            out[key] = message[key]
    return out
