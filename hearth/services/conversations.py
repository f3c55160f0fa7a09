"""``client.conversations``: create / retrieve / update / delete, and ``.items`` create /
list / retrieve / delete (OpenAI API reference: Conversations).

A conversation is a durable list of items (the Responses API's item shapes) that a
response created with ``conversation=`` reads as its context and appends its input and
output to. Every call is scoped to the caller's project: another project's id is a 404.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from openai.types.conversations import (
    Conversation,
    ConversationDeletedResource,
    ConversationItem,
    ConversationItemList,
)
from pydantic import TypeAdapter

from hearth.domain import CursorPage, PageParams, Principal
from hearth.errors import NotFound
from hearth.services.responses.items import new_item_id, normalize
from hearth.services.responses.params import (
    ConversationCreateParams,
    ConversationUpdateParams,
    ItemsCreateParams,
)
from hearth.store.ids import new_id
from hearth.store.models import Conversation as ConversationRow
from hearth.store.responses import ResponseRepository

_ITEM = TypeAdapter(ConversationItem)


def conversation_item(item: dict[str, Any]) -> Any:
    """A stored item as the SDK's ``ConversationItem``."""
    return _ITEM.validate_python(item)


class Conversations:
    """Conversations of the caller's project and their items."""

    def __init__(self, repo: ResponseRepository) -> None:
        self._repo = repo

    async def create(self, caller: Principal, params: ConversationCreateParams) -> Conversation:
        """A new conversation holding ``items`` (checked as a response's input is)."""
        items = normalize(params.items or [], "items")
        row = await asyncio.to_thread(
            self._repo.create_conversation,
            caller.project_id,
            new_id("conv_"),
            params.metadata,
            items,
            int(time.time()),
        )
        return _conversation(row)

    async def retrieve(self, caller: Principal, conversation_id: str) -> Conversation:
        """The conversation; ``NotFound`` otherwise."""
        row = await asyncio.to_thread(self._repo.conversation, caller.project_id, conversation_id)
        if row is None:
            raise _not_found(conversation_id)
        return _conversation(row)

    async def update(
        self, caller: Principal, conversation_id: str, params: ConversationUpdateParams
    ) -> Conversation:
        """Replace the metadata."""
        row = await asyncio.to_thread(
            self._repo.update_conversation, caller.project_id, conversation_id, params.metadata
        )
        if row is None:
            raise _not_found(conversation_id)
        return _conversation(row)

    async def delete(self, caller: Principal, conversation_id: str) -> ConversationDeletedResource:
        """Delete the conversation and its items (responses that used it stay)."""
        if not await asyncio.to_thread(
            self._repo.delete_conversation, caller.project_id, conversation_id
        ):
            raise _not_found(conversation_id)
        return ConversationDeletedResource(
            id=conversation_id, object="conversation.deleted", deleted=True
        )

    async def create_items(
        self, caller: Principal, conversation_id: str, params: ItemsCreateParams
    ) -> ConversationItemList:
        """Append ``items``; the list of the items as stored. An id the conversation
        already holds is replaced by a fresh one (ids are unique in a conversation)."""
        items = normalize(params.items, "items")
        used = await asyncio.to_thread(self._repo.item_ids, conversation_id)
        for item in items:
            if item["id"] in used:
                item["id"] = new_item_id(item["type"])
            used.add(item["id"])
        if not await asyncio.to_thread(
            self._repo.append, caller.project_id, conversation_id, items
        ):
            raise _not_found(conversation_id)
        return ConversationItemList.model_validate(
            {
                "object": "list",
                "data": items,
                "first_id": items[0]["id"],
                "last_id": items[-1]["id"],
                "has_more": False,
            }
        )

    async def list_items(
        self, caller: Principal, conversation_id: str, page: PageParams
    ) -> CursorPage[Any]:
        """``ConversationItemList``: a page of the items (``desc`` by default)."""
        rows = await asyncio.to_thread(
            self._repo.page_items, caller.project_id, conversation_id, page
        )
        if rows is None:
            raise _not_found(conversation_id)
        return rows.to(lambda row: conversation_item(row.item))

    async def retrieve_item(self, caller: Principal, conversation_id: str, item_id: str) -> Any:
        """One item; ``NotFound`` for an unknown conversation or item."""
        item = await asyncio.to_thread(self._repo.item, caller.project_id, conversation_id, item_id)
        if item is None:
            raise _item_not_found(conversation_id, item_id)
        return conversation_item(item)

    async def delete_item(
        self, caller: Principal, conversation_id: str, item_id: str
    ) -> Conversation:
        """Delete one item; the conversation (as OpenAI returns it)."""
        if not await asyncio.to_thread(
            self._repo.delete_item, caller.project_id, conversation_id, item_id
        ):
            raise _item_not_found(conversation_id, item_id)
        return await self.retrieve(caller, conversation_id)


def _conversation(row: ConversationRow) -> Conversation:
    return Conversation(
        id=row.id, object="conversation", created_at=row.created_at, metadata=row.metadata_ or {}
    )


def _not_found(conversation_id: str) -> NotFound:
    return NotFound(f"Conversation with id '{conversation_id}' not found.", param="conversation_id")


def _item_not_found(conversation_id: str, item_id: str) -> NotFound:
    return NotFound(
        f"Item with id '{item_id}' not found in conversation '{conversation_id}'.",
        param="item_id",
    )
