"""``client.beta.threads`` (create / retrieve / update / delete) and
``client.beta.threads.messages`` (create / list / retrieve / update / delete) (OpenAI API
reference: Assistants > Threads, Messages), and what runs use: ``get``,
``messages_for_run``, ``add_message``, ``update_message``, ``container_id`` and
``set_container``.

A thread is a list of messages plus the resources its runs' tools use
(``tool_resources``, as an assistant's). A message's ``attachments`` put files where
its tools find them, as OpenAI does: a ``file_search`` attachment adds the file to the
thread's vector store (made through ``VectorStores`` on first need, or when the one it
had was deleted or has expired; it expires 7 days after it was last active, and is
recorded in ``tool_resources.file_search``), a
``code_interpreter`` attachment adds it to ``tool_resources.code_interpreter.file_ids``
(at most 20). Message content is text: image parts are a 400, because the served models
cannot see. Every call is scoped to the caller's project: another project's thread or
message is a 404.

Every object is the SDK's type with every field set. A message written whole (anything
but a run's answer being generated) is ``completed`` when created; ``assistant_id`` and
``run_id`` are null unless a run wrote it.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

from openai.types.beta import Thread, ThreadDeleted
from openai.types.beta.threads import Message, MessageDeleted
from openai.types.vector_stores import VectorStoreFile

from hearth.domain import CursorPage, PageParams, Principal
from hearth.errors import InvalidRequest, NotFound
from hearth.services.assistants.assistants import tool_resources_json
from hearth.services.assistants.params import (
    MAX_CODE_FILES,
    CodeInterpreterTool,
    MessageCreateParams,
    MessageUpdateParams,
    TextPart,
    ThreadCreateParams,
    ThreadUpdateParams,
)
from hearth.services.files import Files
from hearth.services.vector_stores.params import CreateParams as VectorStoreCreateParams
from hearth.services.vector_stores.params import ExpiresAfter, FileCreateParams
from hearth.services.vector_stores.service import VectorStores
from hearth.store.assistants import ThreadRepository
from hearth.store.ids import new_id

THREAD_STORE_DAYS = 7
"""A vector store made for a thread's attachments expires this many days after it was
last active (OpenAI's default for these stores)."""
CANNOT_SEE = "Image content is not supported: this server's models cannot see images."

_Attached = tuple[str, bool, bool, str]
"""An attachment to apply: ``(file_id, file_search, code_interpreter, param)``."""


def _thread_not_found(thread_id: str) -> NotFound:
    return NotFound(f"No thread found with id '{thread_id}'.", param="thread_id")


def _message_not_found(message_id: str) -> NotFound:
    return NotFound(f"No message found with id '{message_id}'.", param="message_id")


def _content(params: MessageCreateParams, prefix: str) -> builtins.list[dict[str, Any]]:
    """The message's content as ``text`` parts; ``InvalidRequest`` for an image part."""
    if isinstance(params.content, str):
        return [_text(params.content)]
    out = []
    for i, part in enumerate(params.content):
        if not isinstance(part, TextPart):
            raise InvalidRequest(
                CANNOT_SEE, param=f"{prefix}content[{i}].type", code="unsupported_value"
            )
        out.append(_text(part.text))
    return out


def _text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def _attachments(params: MessageCreateParams, prefix: str) -> builtins.list[_Attached]:
    out = []
    for i, attachment in enumerate(params.attachments or []):
        code = any(isinstance(t, CodeInterpreterTool) for t in attachment.tools)
        search = any(not isinstance(t, CodeInterpreterTool) for t in attachment.tools)
        out.append((attachment.file_id, search, code, f"{prefix}attachments[{i}].file_id"))
    return out


def _code_files(current: Sequence[str], attached: Sequence[_Attached]) -> builtins.list[str]:
    """``current`` code interpreter files and the ``attached`` ones for it, each once;
    ``InvalidRequest`` past 20."""
    file_ids = builtins.list(
        dict.fromkeys([*current, *(f for f, _, wants, _ in attached if wants)])
    )
    if len(file_ids) > MAX_CODE_FILES:
        raise InvalidRequest(
            f"A thread's code_interpreter tool can have at most {MAX_CODE_FILES} files; "
            f"these attachments would make {len(file_ids)}.",
            param=next(p for _, _, wants, p in attached if wants),
        )
    return file_ids


class Threads:
    """Threads of the caller's project; their messages are ``messages``."""

    def __init__(
        self,
        repo: ThreadRepository,
        files: Files,
        vector_stores: VectorStores,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._files = files
        self._stores = vector_stores
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self.messages = Messages(self)

    def _lock(self, thread_id: str) -> asyncio.Lock:
        # one change of a thread's tool_resources at a time: two messages attaching
        # files at once must not each make a vector store for it
        return self._locks.setdefault(thread_id, asyncio.Lock())

    async def _object(self, caller: Principal, thread_id: str) -> dict[str, Any]:
        row = await asyncio.to_thread(self._repo.get, caller.project_id, thread_id)
        if row is None:
            raise _thread_not_found(thread_id)
        return copy.deepcopy(row.object)

    def _message(
        self,
        thread_id: str,
        params: MessageCreateParams,
        content: builtins.list[dict[str, Any]],
        now: int,
    ) -> dict[str, Any]:
        return {
            "id": new_id("msg_"),
            "object": "thread.message",
            "created_at": now,
            "thread_id": thread_id,
            "status": "completed",
            "incomplete_details": None,
            "completed_at": now,
            "incomplete_at": None,
            "role": params.role,
            "content": content,
            "assistant_id": None,
            "run_id": None,
            "attachments": [a.model_dump(mode="json") for a in params.attachments or []],
            "metadata": params.metadata or {},
        }

    async def _check_attached(self, caller: Principal, attached: Sequence[_Attached]) -> None:
        for file_id, _, _, param in attached:
            if not await asyncio.to_thread(self._files.exists, caller, file_id):
                raise NotFound(f"No file found with id '{file_id}'.", param=param)

    async def _attach(
        self, caller: Principal, resources: dict[str, Any], attached: Sequence[_Attached]
    ) -> dict[str, Any]:
        """``resources`` (a thread's ``tool_resources``) with the ``attached`` files
        added: to the code interpreter's files, and to the thread's vector store (made
        when it has none). ``InvalidRequest`` past 20 code interpreter files."""
        out = copy.deepcopy(resources)
        if any(wants for _, _, wants, _ in attached):
            current = (out.get("code_interpreter") or {}).get("file_ids") or []
            out["code_interpreter"] = {"file_ids": _code_files(current, attached)}
        search = builtins.list(dict.fromkeys(f for f, wants, _, _ in attached if wants))
        if not search:
            return out
        store_ids = (out.get("file_search") or {}).get("vector_store_ids") or []
        if store_ids and await self._usable(caller, store_ids[0]):
            store_id = store_ids[0]
        else:
            expiry = ExpiresAfter(anchor="last_active_at", days=THREAD_STORE_DAYS)
            made = await self._stores.create(caller, VectorStoreCreateParams(expires_after=expiry))
            store_id = made.id
            out["file_search"] = {"vector_store_ids": [store_id]}
        for file_id in search:
            if not await self._in_store(caller, store_id, file_id):
                await self._stores.files.create(caller, store_id, FileCreateParams(file_id=file_id))
        return out

    async def _usable(self, caller: Principal, store_id: str) -> bool:
        try:
            await asyncio.to_thread(self._stores.row, caller, store_id, usable=True)
        except (NotFound, InvalidRequest):  # deleted or expired: the thread gets a new one
            return False
        return True

    async def _in_store(self, caller: Principal, store_id: str, file_id: str) -> bool:
        try:
            found: VectorStoreFile = await self._stores.files.retrieve(caller, store_id, file_id)
        except NotFound:
            return False
        return found.status != "failed"  # a failed file is added (ingested) again

    # client.beta.threads

    async def create(self, caller: Principal, params: ThreadCreateParams) -> Thread:
        """A new thread ``thread_...`` with its first ``messages`` (at most 32) and
        ``tool_resources`` (checked as an assistant's, a vector store made from files
        when asked for), the messages' attachments applied. 404 for a file or vector
        store the project does not have; 400 for image content; nothing is stored when a
        check fails."""
        now = int(self._clock())
        thread_id = new_id("thread_")
        messages: builtins.list[dict[str, Any]] = []
        attached: builtins.list[_Attached] = []
        for i, message in enumerate(params.messages or []):
            content = _content(message, f"messages[{i}].")
            messages.append(self._message(thread_id, message, content, now))
            attached += _attachments(message, f"messages[{i}].")
        await self._check_attached(caller, attached)
        if any(wants for _, _, wants, _ in attached):  # refused before a store is made
            sent = params.tool_resources.code_interpreter if params.tool_resources else None
            _code_files((sent.file_ids or []) if sent else [], attached)
        resources = (
            await tool_resources_json(caller, params.tool_resources, self._files, self._stores)
            if params.tool_resources is not None
            else {}
        )
        resources = await self._attach(caller, resources, attached)
        thread = {
            "id": thread_id,
            "object": "thread",
            "created_at": now,
            "metadata": params.metadata or {},
            "tool_resources": resources,
        }
        obj = Thread.model_validate(thread)
        for made in messages:
            Message.model_validate(made)
        await asyncio.to_thread(self._repo.insert, caller.project_id, thread, messages)
        return obj

    async def get(self, caller: Principal, thread_id: str) -> Thread:
        """The project's thread (what a run reads); ``NotFound`` (``thread_id``)
        otherwise."""
        return Thread.model_validate(await self._object(caller, thread_id))

    async def retrieve(self, caller: Principal, thread_id: str) -> Thread:
        """``beta.threads.retrieve``: ``get``."""
        return await self.get(caller, thread_id)

    async def update(self, caller: Principal, thread_id: str, params: ThreadUpdateParams) -> Thread:
        """Replace the fields sent: ``metadata`` whole, ``tool_resources`` per tool (a
        tool not sent keeps its resources; ``null`` removes them all), checked as on
        create."""
        await self._object(caller, thread_id)  # 404 before a lock is kept for the id
        async with self._lock(thread_id):
            thread = await self._object(caller, thread_id)
            sent = params.model_fields_set
            if "metadata" in sent:
                thread["metadata"] = params.metadata or {}
            if "tool_resources" in sent:
                thread["tool_resources"] = (
                    {
                        **(thread.get("tool_resources") or {}),
                        **await tool_resources_json(
                            caller, params.tool_resources, self._files, self._stores
                        ),
                    }
                    if params.tool_resources is not None
                    else {}
                )
            obj = Thread.model_validate(thread)
            if not await asyncio.to_thread(self._repo.update, caller.project_id, thread_id, thread):
                raise _thread_not_found(thread_id)
        return obj

    async def delete(self, caller: Principal, thread_id: str) -> ThreadDeleted:
        """Delete the thread with its messages, runs and run steps (``NotFound`` then and
        afterwards). Its vector stores and files stay (a store made for its attachments
        expires on its own)."""
        if not await asyncio.to_thread(self._repo.delete, caller.project_id, thread_id):
            raise _thread_not_found(thread_id)
        self._locks.pop(thread_id, None)
        return ThreadDeleted(id=thread_id, object="thread.deleted", deleted=True)

    # for runs

    async def messages_for_run(self, caller: Principal, thread_id: str) -> builtins.list[Message]:
        """Every message of the thread, oldest first (what a run reads);
        ``NotFound`` (``thread_id``) for a thread the project does not have."""
        await self._object(caller, thread_id)
        rows = await asyncio.to_thread(self._repo.messages, caller.project_id, thread_id)
        return [Message.model_validate(row.object) for row in rows]

    async def add_message(self, caller: Principal, thread_id: str, message: Message) -> None:
        """Append a message a run made (``role`` ``assistant``, its ``run_id`` and
        ``assistant_id`` set; any ``status``), stored as given with every field.
        ``NotFound`` (``thread_id``) for a thread the project does not have."""
        stored = message.model_dump(mode="json", by_alias=True)
        stored["thread_id"] = thread_id
        if not await asyncio.to_thread(
            self._repo.insert_message, caller.project_id, thread_id, stored
        ):
            raise _thread_not_found(thread_id)

    async def update_message(self, caller: Principal, thread_id: str, message: Message) -> None:
        """Replace the stored message ``message.id`` of the thread with ``message`` (a
        run's answer as it grows, then complete). ``NotFound`` (``message_id``) when
        the thread has no such message."""
        stored = message.model_dump(mode="json", by_alias=True)
        stored["thread_id"] = thread_id
        if not await asyncio.to_thread(
            self._repo.update_message, caller.project_id, thread_id, stored
        ):
            raise _message_not_found(message.id)

    async def container_id(self, caller: Principal, thread_id: str) -> str | None:
        """The code interpreter container the thread's runs use, if one was recorded
        (it may have expired since); ``NotFound`` for a thread the project does not
        have."""
        row = await asyncio.to_thread(self._repo.get, caller.project_id, thread_id)
        if row is None:
            raise _thread_not_found(thread_id)
        return row.container_id

    async def set_container(
        self, caller: Principal, thread_id: str, container_id: str | None
    ) -> None:
        """Record the container the thread's runs use from now on (None: none)."""
        await self._object(caller, thread_id)
        await asyncio.to_thread(self._repo.set_container, thread_id, container_id)


class Messages:
    """``client.beta.threads.messages``: the messages of the caller's threads."""

    def __init__(self, threads: Threads) -> None:
        self._threads = threads
        self._repo = threads._repo

    async def create(
        self, caller: Principal, thread_id: str, params: MessageCreateParams
    ) -> Message:
        """Append a message (``role`` ``user`` or ``assistant``), its attachments
        applied to the thread's ``tool_resources``. 404 for the thread or an attached
        file the project does not have; 400 for image content or past 20 code
        interpreter files."""
        content = _content(params, "")
        attached = _attachments(params, "")
        await self._threads._object(caller, thread_id)  # 404 before a lock is kept for the id
        await self._threads._check_attached(caller, attached)
        async with self._threads._lock(thread_id):
            thread = await self._threads._object(caller, thread_id)
            if attached:
                before = thread.get("tool_resources") or {}
                after = await self._threads._attach(caller, before, attached)
                if after != before:
                    thread["tool_resources"] = after
                    await asyncio.to_thread(self._repo.update, caller.project_id, thread_id, thread)
            message = self._threads._message(
                thread_id, params, content, int(self._threads._clock())
            )
            obj = Message.model_validate(message)
            if not await asyncio.to_thread(
                self._repo.insert_message, caller.project_id, thread_id, message
            ):
                raise _thread_not_found(thread_id)  # deleted meanwhile
        return obj

    async def list(
        self, caller: Principal, thread_id: str, page: PageParams, *, run_id: str | None = None
    ) -> CursorPage[Message]:
        """A page of the thread's messages, only those ``run_id`` made when given."""
        rows = await asyncio.to_thread(
            self._repo.page_messages, caller.project_id, thread_id, page, run_id=run_id
        )
        if rows is None:
            raise _thread_not_found(thread_id)
        return rows.to(lambda row: Message.model_validate(row.object))

    async def retrieve(self, caller: Principal, thread_id: str, message_id: str) -> Message:
        """One message of the thread (``NotFound``)."""
        return Message.model_validate(await self._object(caller, thread_id, message_id))

    async def update(
        self, caller: Principal, thread_id: str, message_id: str, params: MessageUpdateParams
    ) -> Message:
        """Replace the message's ``metadata`` (when sent)."""
        message = await self._object(caller, thread_id, message_id)
        if "metadata" in params.model_fields_set:
            message["metadata"] = params.metadata or {}
        obj = Message.model_validate(message)
        if not await asyncio.to_thread(
            self._repo.update_message, caller.project_id, thread_id, message
        ):
            raise _message_not_found(message_id)
        return obj

    async def delete(self, caller: Principal, thread_id: str, message_id: str) -> MessageDeleted:
        """Delete the message (``NotFound`` then and afterwards)."""
        if not await asyncio.to_thread(
            self._repo.delete_message, caller.project_id, thread_id, message_id
        ):
            raise _message_not_found(message_id)
        return MessageDeleted(id=message_id, object="thread.message.deleted", deleted=True)

    async def _object(self, caller: Principal, thread_id: str, message_id: str) -> dict[str, Any]:
        row = await asyncio.to_thread(
            self._repo.get_message, caller.project_id, thread_id, message_id
        )
        if row is None:
            raise _message_not_found(message_id)
        return copy.deepcopy(row.object)
