"""``client.responses``: create (JSON, stream or background) / retrieve / delete / cancel /
``input_items.list`` / ``input_tokens.count`` / ``compact`` (OpenAI API reference:
Responses; the Open Responses specification).

Every call is scoped to the caller's project. A response is checked completely (model,
items, tools, context) and its first model call started before anything is returned, so
bad input is a plain 400/404. Stored responses are written once, with their final state
and the items they append to a conversation, in one transaction; background responses
are durable leased work (``ResponseWork``) that a restarted server resumes.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from openai.types.responses import (
    CompactedResponse,
    InputTokenCountResponse,
    Response,
    ResponseCompactionItem,
    ResponseInputMessageItem,
    ResponseItem,
    ResponseStreamEvent,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

from hearth.domain import CursorPage, PageParams, Principal
from hearth.engine.registry import ModelRegistry
from hearth.errors import HearthError, InvalidRequest, NotFound, invalid_request
from hearth.jobs.bus import EventBus, Listener
from hearth.jobs.runner import JobRunner
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.params import ChatCompletionParams, Message
from hearth.services.containers import Containers
from hearth.services.containers import CreateParams as ContainerParams
from hearth.services.responses.items import (
    check_outputs,
    compaction_content,
    message_text,
    new_item_id,
    normalize,
    resolve_references,
    to_messages,
)
from hearth.services.responses.params import (
    INCLUDABLE,
    CodeInterpreterToolParam,
    CompactParams,
    CountParams,
    CreateParams,
    FileSearchToolParam,
    FunctionToolParam,
)
from hearth.services.responses.runtime import (
    BUILT_IN,
    CODE_INTERPRETER,
    FILE_SEARCH,
    CodeRun,
    Setup,
    Turn,
    as_response,
    response_error_code,
    response_object,
    usage_object,
    visible,
)
from hearth.services.vector_stores.params import SearchParams
from hearth.services.vector_stores.service import VectorStores
from hearth.store import leases
from hearth.store.ids import new_id
from hearth.store.models import StoredResponse
from hearth.store.pages import page_list
from hearth.store.responses import ResponseRepository

log = logging.getLogger(__name__)

_ITEM = TypeAdapter(ResponseItem)
TERMINAL = ("completed", "incomplete", "failed", "cancelled")
COMPACT_MAX_TOKENS = 400
"""The longest summary a compaction writes."""
COMPACT_PROMPT = (
    "Summarize the conversation above for whoever continues it: the user's goals, the "
    "facts and decisions so far, tool results that matter, and what is still open. Be "
    "concise."
)


class Compaction(CompactedResponse):
    """``response.compaction``: OpenAI sends the kept user messages as input messages,
    which the SDK's output-item union does not include (it reads them unvalidated)."""

    output: builtins.list[ResponseInputMessageItem | ResponseCompactionItem]  # type: ignore[assignment]


class ResponseDeleted(BaseModel):
    """``DELETE /v1/responses/{id}``'s body (the SDK's ``delete`` returns nothing)."""

    id: str
    object: str = "response.deleted"
    deleted: bool = True


def wire_item(item: dict[str, Any]) -> Any:
    """A stored item as the SDK's ``ResponseItem`` (input items list)."""
    return _ITEM.validate_python(item)


class Responses:
    """The Responses use-case over the chat service and the model registry; file search
    through ``vector_stores``; ``start`` / ``stop`` run the background runner."""

    def __init__(
        self,
        repo: ResponseRepository,
        chat: ChatCompletions,
        registry: ModelRegistry,
        vector_stores: VectorStores,
        containers: Containers,
        bus: EventBus,
        *,
        lease_seconds: float,
        concurrency: int,
    ) -> None:
        self._repo = repo
        self._bus = bus
        self._chat = chat
        self._registry = registry
        self._stores = vector_stores
        self._containers = containers
        self.work = ResponseWork(self)
        self.runner = JobRunner(
            repo.sessions, self.work, lease_seconds=lease_seconds, concurrency=concurrency
        )
        bus.on_signal(ResponseWork.name, self.runner.cancel)

    async def start(self) -> None:
        """Start running background responses (resumes those whose lease expired)."""
        await self.runner.start()

    async def stop(self) -> None:
        """Stop; background responses in progress resume on the next start."""
        await self.runner.stop()

    # --- create -------------------------------------------------------------------------

    async def create(self, caller: Principal, params: CreateParams) -> Response:
        """Run the response to its end (``completed``, ``incomplete`` or ``failed``, with
        ``error``) and return it, stored first unless ``store`` is false; with
        ``background``, store it ``queued`` and return at once. Raises ``InvalidRequest``
        / ``NotFound`` / ``ContextLengthExceeded`` / ``ModelNotFound`` before any
        generation."""
        if params.background:
            return await self._queue(caller, params)
        turn = await self.turn(caller, params)
        async for _ in self._saving(turn):
            pass
        assert turn.final is not None
        return turn.final

    async def stream(
        self, caller: Principal, params: CreateParams
    ) -> AsyncIterator[ResponseStreamEvent]:
        """Check and start as ``create`` does (raising before any event), then the
        response's events; the response is stored before its terminal event is sent.
        Closing the iterator early stops generation and stores nothing. With
        ``background``, the queued response's events as whichever replica runs it sends
        them; closing the iterator then only stops listening."""
        if params.background:
            queued = await self._queue(caller, params)
            return self._relay(await self._bus.listen(_topic(queued.id), from_start=True), -1)
        turn = await self.turn(caller, params)
        return self._saving(turn)

    async def stream_events(
        self, caller: Principal, response_id: str, starting_after: int | None = None
    ) -> AsyncIterator[ResponseStreamEvent]:
        """``client.responses.retrieve(id, stream=True)``: a background response's events
        from the first (or after ``sequence_number`` ``starting_after``), live while it
        runs on any replica, kept for ``bus.TTL_SECONDS`` after its last. 400 for a
        response not created with ``background``, or whose events are gone."""
        row = await self._row(caller, response_id)
        if not row.background:
            raise InvalidRequest(
                "Only responses created with background=true can be streamed after creation.",
                param="stream",
            )
        topic = _topic(response_id)
        if row.status in TERMINAL and not await self._bus.exists(topic):
            raise InvalidRequest(
                f"The events of response '{response_id}' are no longer available; "
                "retrieve it without stream.",
                param="stream",
            )
        listener = await self._bus.listen(topic, from_start=True)
        return self._relay(listener, -1 if starting_after is None else starting_after)

    @staticmethod
    async def _relay(listener: Listener, after: int) -> AsyncIterator[ResponseStreamEvent]:
        async with contextlib.aclosing(listener):
            async for data in listener:
                event = _EVENT.validate_json(data)
                if event.sequence_number > after:
                    yield event

    async def _saving(self, turn: Turn) -> AsyncIterator[ResponseStreamEvent]:
        async for event in turn.events():
            if event.type in ("response.completed", "response.incomplete", "response.failed"):
                await self._save(turn)
            yield event

    async def _save(self, turn: Turn) -> None:
        setup, final = turn.setup, turn.final
        assert final is not None
        appended = turn.conversation_items()
        caller = setup.caller
        if setup.params.stored:
            await asyncio.to_thread(
                self._repo.insert,
                caller.project_id,
                caller.organization_id,
                request=_request_json(setup.params),
                input_items=setup.input_items,
                response=_json(final, turn.output),
                conversation_items=appended,
            )
        elif appended:
            await asyncio.to_thread(
                self._repo.append, caller.project_id, setup.params.conversation_id or "", appended
            )

    async def turn(
        self,
        caller: Principal,
        params: CreateParams,
        *,
        response_id: str | None = None,
        created_at: int | None = None,
        input_items: builtins.list[dict[str, Any]] | None = None,
        max_prompt_tokens: int | None = None,
        queued: bool = False,
    ) -> Turn:
        """A checked ``Turn`` with its first model call started (truncating the oldest
        context with ``truncation: auto``, also to keep each prompt within
        ``max_prompt_tokens`` when given: an Assistants run's limit)."""
        setup = await self._setup(
            caller, params, response_id=response_id, created_at=created_at, input_items=input_items
        )
        setup.max_prompt_tokens = max_prompt_tokens
        turn = Turn(setup, self._chat, queued=queued)
        await turn.begin()
        return turn

    async def _setup(
        self,
        caller: Principal,
        params: CreateParams,
        *,
        response_id: str | None = None,
        created_at: int | None = None,
        input_items: builtins.list[dict[str, Any]] | None = None,
    ) -> Setup:
        served = await self._registry.aget(params.model, caller.organization_id)
        _check_create(params)
        new = normalize(params.input) if input_items is None else input_items
        context = await self._context(caller, params)
        new = resolve_references(new, context)
        check_outputs(context, new)
        if not new and not context:
            raise InvalidRequest("Missing required parameter: 'input'.", param="input")
        functions, file_search, code_interpreter = _tools(params.tools or [])
        _check_tool_choice(params.tool_choice, functions, file_search, code_interpreter)
        if file_search is not None:
            for i, store_id in enumerate(file_search.vector_store_ids):
                try:
                    await asyncio.to_thread(self._stores.row, caller, store_id, usable=True)
                except HearthError as exc:
                    exc.param = f"tools.file_search.vector_store_ids[{i}]"
                    raise
        container_id = None
        if code_interpreter is not None:
            container_id = await self._container(caller, params, code_interpreter, context)
        return Setup(
            caller=caller,
            params=params,
            response_id=response_id or new_item_id_response(),
            created_at=created_at or int(time.time()),
            model=served.id,
            context=context,
            input_items=new,
            functions=functions,
            file_search=file_search,
            search=lambda tool, queries: self._search(caller, tool, queries),
            code_interpreter=code_interpreter,
            container_id=container_id,
            interpret=(
                (lambda code: self._interpret(caller, container_id, code))
                if container_id is not None
                else None
            ),
        )

    async def _context(
        self, caller: Principal, params: CreateParams
    ) -> builtins.list[dict[str, Any]]:
        """The items before this request's input: the ``previous_response_id`` chain's
        inputs and outputs (function calls and their outputs included), or the
        conversation's items."""
        if params.previous_response_id is not None:
            chain = await asyncio.to_thread(
                self._repo.chain, caller.project_id, params.previous_response_id
            )
            if chain is None:
                raise NotFound(
                    f"Previous response with id '{params.previous_response_id}' not found.",
                    param="previous_response_id",
                )
            return [item for row in chain for item in (*row.input_items, *_output(row))]
        conversation = params.conversation_id
        if conversation is not None:
            items = await asyncio.to_thread(self._repo.items, caller.project_id, conversation)
            if items is None:
                raise NotFound(
                    f"Conversation with id '{conversation}' not found.", param="conversation"
                )
            return items
        return []

    async def _container(
        self,
        caller: Principal,
        params: CreateParams,
        tool: CodeInterpreterToolParam,
        context: builtins.list[dict[str, Any]],
    ) -> str:
        """The container a ``code_interpreter`` tool runs in: the one it names (404 for
        another project's, 400 when expired), or for ``auto`` the one the context's last
        code interpreter call used while it runs (when no ``file_ids`` are asked for),
        else a new one with ``file_ids`` copied in."""
        where = f"tools[{_tool_index(params, CODE_INTERPRETER)}].container"
        try:
            self._containers.sandboxes.require()
            container = tool.container
            if isinstance(container, str):
                await self._containers.usable(caller, container)
                return container
            policy = (container.network_policy or {}).get("type", "disabled")
            if policy != "disabled":
                raise InvalidRequest(
                    "Containers on this server have no network: network_policy must be 'disabled'.",
                    code="unsupported_value",
                )
            if not container.file_ids:
                for item in reversed(context):
                    if item["type"] == "code_interpreter_call" and item.get("container_id"):
                        try:
                            await self._containers.usable(caller, item["container_id"])
                            return str(item["container_id"])
                        except HearthError:
                            break
            created = await self._containers.create(
                caller,
                ContainerParams(
                    name="code interpreter (auto)",
                    file_ids=container.file_ids,
                    memory_limit=container.memory_limit or "1g",
                ),
            )
            return created.id
        except HearthError as exc:
            if exc.param is None or not exc.param.startswith(("file_ids", "tools")):
                exc.param = where
            elif exc.param.startswith("file_ids"):
                exc.param = f"{where}.{exc.param}"
            raise

    async def _interpret(self, caller: Principal, container_id: str, code: str) -> CodeRun:
        """Run one code interpreter call; its new or changed files for citations."""
        execution, files = await self._containers.execute(caller, container_id, code)
        return CodeRun(execution, [(f.id, f.path.rsplit("/", 1)[-1]) for f in files])

    async def _search(
        self, caller: Principal, tool: FileSearchToolParam, queries: builtins.list[str]
    ) -> builtins.list[dict[str, Any]]:
        """Run one ``file_search`` call: the tool's stores, filters and ranking."""
        stores = [
            await asyncio.to_thread(self._stores.row, caller, store_id)
            for store_id in tool.vector_store_ids
        ]
        hits = await self._stores.search_stores(
            stores,
            queries,
            SearchParams(
                query=queries,
                filters=tool.filters,
                max_num_results=tool.max_num_results,
                ranking_options=tool.ranking_options,
            ),
        )
        return [
            {
                "file_id": h.file_id,
                "filename": h.filename,
                "score": round(h.score, 6),
                "text": h.text,
                "attributes": h.attributes or {},
            }
            for h in hits
        ]

    # --- background ---------------------------------------------------------------------

    async def _queue(self, caller: Principal, params: CreateParams) -> Response:
        setup = await self._setup(caller, params)
        queued = response_object(setup, "queued", [])
        await asyncio.to_thread(
            self._repo.insert,
            caller.project_id,
            caller.organization_id,
            request=_request_json(params),
            input_items=setup.input_items,
            response=_json(queued, []),
        )
        self.runner.wake()
        return queued

    # --- stored responses ---------------------------------------------------------------

    async def list(
        self,
        caller: Principal,
        page: PageParams,
        *,
        model: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> CursorPage[Response]:
        """The project's stored responses (``retrieve``'s shape, every status), only those
        of ``model`` carrying every ``metadata`` pair. Hearth's own list: OpenAI's API has
        none (its dashboard's logs list them). ``InvalidRequest`` for an unknown cursor."""
        rows = await asyncio.to_thread(
            self._repo.page, caller.project_id, page, model=model, metadata=metadata
        )
        return rows.to(lambda row: _stored(row, None))

    async def retrieve(
        self, caller: Principal, response_id: str, include: builtins.list[str] | None = None
    ) -> Response:
        """The stored response (``include`` as ``create``'s); ``NotFound`` otherwise."""
        _check_include(include)
        row = await self._row(caller, response_id)
        return _stored(row, include)

    async def delete(self, caller: Principal, response_id: str) -> ResponseDeleted:
        """Delete the stored response (a background one still running stops)."""
        if not await asyncio.to_thread(self._repo.delete, caller.project_id, response_id):
            raise _not_found(response_id)
        await self._bus.signal(ResponseWork.name, response_id)
        await self._bus.publish(_topic(response_id), None)
        return ResponseDeleted(id=response_id)

    async def cancel(self, caller: Principal, response_id: str) -> Response:
        """Cancel a background response that is ``queued`` or ``in_progress``: it becomes
        ``cancelled`` and its generation stops. Cancelling one already cancelled returns
        it; anything else is a 400 (only background responses can be cancelled)."""
        row = await self._row(caller, response_id)
        if not row.background:
            raise InvalidRequest(
                "Only responses created with background=true can be cancelled.",
                param="response_id",
            )
        if row.status == "cancelled":
            return _stored(row, None)
        if row.status not in ("queued", "in_progress"):
            raise InvalidRequest(
                f"Cannot cancel a response with status '{row.status}'.", param="response_id"
            )
        body = {**row.response, "status": "cancelled"}
        done = await asyncio.to_thread(
            self._repo.write, response_id, body, only_if=("queued", "in_progress"), release=True
        )
        await self._bus.signal(ResponseWork.name, response_id)
        if done:
            await self._bus.publish(_topic(response_id), None)
        if not done:  # it finished meanwhile
            row = await self._row(caller, response_id)
            return _stored(row, None)
        return as_response(body)

    async def input_items(
        self,
        caller: Principal,
        response_id: str,
        page: PageParams,
        include: builtins.list[str] | None = None,
    ) -> CursorPage[Any]:
        """``ResponseItemList``: the response's input items (``desc`` by default)."""
        _check_include(include)
        row = await self._row(caller, response_id)
        items = row.input_items
        return page_list(items, [i["id"] for i in items], page).to(wire_item)

    async def _row(self, caller: Principal, response_id: str) -> StoredResponse:
        row = await asyncio.to_thread(self._repo.get, caller.project_id, response_id)
        if row is None:
            raise _not_found(response_id)
        return row

    # --- tokens and compaction ----------------------------------------------------------

    async def count_input_tokens(
        self, caller: Principal, params: CountParams
    ) -> InputTokenCountResponse:
        """``response.input_tokens``: the prompt tokens the model would read for this
        request (instructions, context, input, tools and format included)."""
        setup = await self._setup(caller, _as_create(params))
        turn = Turn(setup, self._chat)
        tokens = await self._chat.prompt_tokens(caller, turn.chat_params(0))
        return InputTokenCountResponse(object="response.input_tokens", input_tokens=tokens)

    async def compact(self, caller: Principal, params: CompactParams) -> Compaction:
        """Compact a context (Open Responses ``POST /v1/responses/compact``): its user
        messages, then one ``compaction`` item whose content is a model-written summary
        of everything else. Sent back as input, the item stands for that history."""
        setup = await self._setup(caller, _as_create(params))
        items = [*setup.context, *setup.input_items]
        messages = to_messages(items, params.instructions)
        messages.append(Message(role="user", content=COMPACT_PROMPT))
        completion = await self._chat.create(
            caller,
            ChatCompletionParams(
                model=setup.model,
                messages=messages,
                temperature=0.0,
                max_completion_tokens=COMPACT_MAX_TOKENS,
            ),
        )
        summary = completion.choices[0].message.content or ""
        users = [i for i in items if i["type"] == "message" and i["role"] == "user"]
        usage = completion.usage
        assert usage is not None
        return Compaction.model_validate(
            {
                "id": new_id_compaction(),
                "object": "response.compaction",
                "created_at": int(time.time()),
                "output": [
                    *users,
                    {
                        "id": new_item_id("compaction"),
                        "type": "compaction",
                        "encrypted_content": compaction_content(summary),
                    },
                ],
                "usage": usage_object(
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.prompt_tokens_details.cached_tokens or 0
                    if usage.prompt_tokens_details
                    else 0,
                    0,
                ),
            }
        )


class ResponseWork:
    """Background responses as ``hearth.jobs.Work`` (``queued`` and ``in_progress`` rows):
    a claimed row runs from its stored request to its end; a row interrupted (killed
    server) runs again from the start."""

    name = "response"
    table = StoredResponse
    statuses: tuple[str, ...] = ("queued", "in_progress")

    def __init__(self, responses: Responses) -> None:
        self._responses = responses

    async def run(self, job_id: str) -> None:
        """Run the response and write its final state (unless cancelled meanwhile)."""
        repo = self._responses._repo
        row = await asyncio.to_thread(repo.by_id, job_id)
        if row is None or row.status not in self.statuses:
            return
        caller = Principal.for_project(row.organization_id, row.project_id)
        params = CreateParams.model_validate(row.request)
        in_progress = {**row.response, "status": "in_progress"}
        if not await asyncio.to_thread(
            repo.write, job_id, in_progress, owner=leases.OWNER, only_if=self.statuses
        ):
            return
        topic = _topic(job_id)
        try:
            turn = await self._responses.turn(
                caller,
                params,
                response_id=row.id,
                created_at=row.created_at,
                input_items=row.input_items,
                queued=True,
            )
        except HearthError as exc:
            await self._write_failed(job_id, row, response_error_code(exc), exc.message)
            return
        bus = self._responses._bus
        terminal: ResponseStreamEvent | None = None
        async for event in turn.events():
            if event.type in ("response.completed", "response.incomplete", "response.failed"):
                terminal = event  # sent once the final state is stored
            else:
                await bus.publish(topic, event.model_dump_json(exclude_unset=True))
        final = turn.final
        assert final is not None
        appended = turn.conversation_items()
        if await asyncio.to_thread(
            repo.write,
            job_id,
            _json(final, turn.output),
            owner=leases.OWNER,
            only_if=("in_progress",),
            conversation_items=appended,
            release=True,
        ):
            if terminal is not None:
                await bus.publish(topic, terminal.model_dump_json(exclude_unset=True))
            await bus.publish(topic, None)

    async def _write_failed(
        self, job_id: str, row: StoredResponse, code: str, message: str
    ) -> None:
        body = {**row.response, "status": "failed", "error": {"code": code, "message": message}}
        await asyncio.to_thread(
            self._responses._repo.write,
            job_id,
            body,
            only_if=self.statuses,
            release=True,
        )
        await self._responses._bus.publish(_topic(job_id), None)  # listeners stop

    async def give_up(self, job_id: str, attempts: int) -> None:
        """Fail the response: it was interrupted ``attempts - 1`` times."""
        row = await asyncio.to_thread(self._responses._repo.by_id, job_id)
        if row is not None:
            await self._write_failed(
                job_id,
                row,
                "server_error",
                f"The response was interrupted {attempts - 1} times and was not completed.",
            )

    async def fail(self, job_id: str, error: Exception) -> None:
        """Fail the response: running it raised ``error`` (a bug)."""
        row = await asyncio.to_thread(self._responses._repo.by_id, job_id)
        if row is not None:
            await self._write_failed(job_id, row, "server_error", "The server had an error.")


def new_item_id_response() -> str:
    """A response id, ``resp_`` + 24 letters and digits."""
    return new_id("resp_")


def new_id_compaction() -> str:
    """A compacted response's id."""
    return new_id("cmp_")


def _as_create(params: BaseModel) -> CreateParams:
    """A context-only body (count, compact) as the create body it describes."""
    fields = set(type(params).model_fields)  # its own fields: extras were never checked
    return CreateParams.model_validate(
        params.model_dump(exclude_unset=True, by_alias=True, include=fields)
    )


def _topic(response_id: str) -> str:
    """A background response's topic on the event bus."""
    return f"response:{response_id}"


_EVENT: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)


def _not_found(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id}' not found.", param="response_id")


def _request_json(params: CreateParams) -> dict[str, Any]:
    return params.model_dump(mode="json", exclude_unset=True, by_alias=True)


def _json(response: Response, output: builtins.list[dict[str, Any]]) -> dict[str, Any]:
    """The response as stored: every field, and the output items in full (file search
    results kept whatever ``include`` said, for later turns and ``retrieve``)."""
    body = response.model_dump(mode="json", exclude_unset=True, by_alias=True)
    body["output"] = output
    return body


def _output(row: StoredResponse) -> builtins.list[dict[str, Any]]:
    return list(row.response.get("output") or [])


def _stored(row: StoredResponse, include: builtins.list[str] | None) -> Response:
    shown = set(include or ())
    body = dict(row.response)
    body["output"] = [visible(item, shown) for item in body.get("output") or []]
    return as_response(body)


def _check_include(include: builtins.list[str] | None) -> None:
    for i, value in enumerate(include or ()):
        if value not in INCLUDABLE:
            raise InvalidRequest(
                f"Invalid value: '{value}'. Supported values are: "
                + ", ".join(f"'{v}'" for v in sorted(INCLUDABLE))
                + ".",
                param=f"include[{i}]",
                code="invalid_value",
            )


def _check_create(params: CreateParams) -> None:
    _check_include(params.include)
    if params.background and not params.stored:
        raise InvalidRequest(
            "Background responses must be stored: background=true requires store=true.",
            param="background",
        )
    if params.prompt is not None:
        raise InvalidRequest(
            "Reusable prompts (prompt) are not supported by Hearth; send input and instructions.",
            param="prompt",
            code="unsupported_parameter",
        )


def _tool_index(params: CreateParams, kind: str) -> int:
    return next(i for i, t in enumerate(params.tools or []) if t.get("type") == kind)


def _tools(
    raw: builtins.list[dict[str, Any]],
) -> tuple[
    builtins.list[FunctionToolParam], FileSearchToolParam | None, CodeInterpreterToolParam | None
]:
    """The request's tools, checked: ``function``, one ``file_search`` and one
    ``code_interpreter``; other types are a 400 naming the tool."""
    functions: builtins.list[FunctionToolParam] = []
    file_search: FileSearchToolParam | None = None
    code_interpreter: CodeInterpreterToolParam | None = None
    for i, tool in enumerate(raw):
        kind = tool.get("type")
        try:
            if kind == "function":
                functions.append(FunctionToolParam.model_validate(tool, strict=True))
                continue
            if kind == FILE_SEARCH and file_search is None:
                file_search = FileSearchToolParam.model_validate(tool, strict=True)
                continue
            if kind == CODE_INTERPRETER and code_interpreter is None:
                code_interpreter = CodeInterpreterToolParam.model_validate(tool, strict=True)
                continue
        except ValidationError as exc:
            raise invalid_request(exc, prefix=f"tools[{i}]") from exc
        if kind in BUILT_IN:
            raise InvalidRequest(f"Only one {kind} tool is allowed.", param=f"tools[{i}]")
        raise InvalidRequest(
            f"Invalid value: '{kind}'. Supported values are: 'function', 'file_search' and "
            "'code_interpreter'.",
            param=f"tools[{i}].type",
            code="invalid_value",
        )
    names = [f.name for f in functions]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise InvalidRequest(f"Duplicate function name '{name}'.", param=f"tools[{i}].name")
        taken = {
            FILE_SEARCH: file_search is not None,
            CODE_INTERPRETER: code_interpreter is not None,
        }
        if taken.get(name):
            raise InvalidRequest(
                f"A function may not be named '{name}' next to the {name} tool.",
                param=f"tools[{i}].name",
            )
    return functions, file_search, code_interpreter


def _check_tool_choice(
    choice: str | dict[str, Any] | None,
    functions: builtins.list[FunctionToolParam],
    file_search: FileSearchToolParam | None,
    code_interpreter: CodeInterpreterToolParam | None = None,
) -> None:
    if choice is None:
        return
    offered = {FILE_SEARCH: file_search is not None, CODE_INTERPRETER: code_interpreter is not None}
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise InvalidRequest(
                f"Invalid value: '{choice}'. Supported values are: 'none', 'auto' and 'required'.",
                param="tool_choice",
                code="invalid_value",
            )
        return
    names = [f.name for f in functions]  # a list: a name sent as an object stays comparable
    kind = choice.get("type")
    if kind == "function":
        if choice.get("name") not in names:
            raise InvalidRequest(
                f"Tool choice '{choice.get('name')}' not found in 'tools' parameter.",
                param="tool_choice",
            )
    elif kind in offered:
        if not offered[kind]:
            raise InvalidRequest(
                f"Tool choice '{kind}' not found in 'tools' parameter.", param="tool_choice"
            )
    elif kind == "allowed_tools":
        tools = choice.get("tools")
        if not isinstance(tools, list) or choice.get("mode", "auto") not in ("auto", "required"):
            raise InvalidRequest(
                "allowed_tools needs 'tools' (a list) and 'mode' ('auto' or 'required').",
                param="tool_choice",
            )
        for j, tool in enumerate(tools):
            ok = isinstance(tool, dict) and (
                (tool.get("type") == "function" and tool.get("name") in names)
                or offered.get(str(tool.get("type")), False)
            )
            if not ok:
                raise InvalidRequest(
                    "allowed_tools names a tool that is not in 'tools'.",
                    param=f"tool_choice.tools[{j}]",
                )
    else:
        raise InvalidRequest(
            f"Invalid value: '{kind}'. Supported tool_choice types are: 'function', "
            "'file_search', 'code_interpreter' and 'allowed_tools'.",
            param="tool_choice.type",
            code="invalid_value",
        )


__all__ = ["Responses", "ResponseWork", "ResponseDeleted", "message_text", "TERMINAL"]
