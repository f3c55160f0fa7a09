"""Runs (OpenAI API reference: Assistants > Runs, Run steps): an assistant answering a
thread, executed by the Responses runtime (``Responses.turn``) and rendered in the
Assistants vocabulary (``run_events``).

A run is durable background work (``hearth.jobs``): ``create`` stores it ``queued`` and
returns; the runner executes it (``in_progress``) and writes its end. A run that calls a
function stops in ``requires_action`` with the items it has so far; the outputs the
client submits continue it from there as the next segment, and it expires after 10
minutes without them. A killed server leaves its run leased; the next start runs the
segment again (its half-written steps and messages removed first). One run at a time
holds a thread. Streamed runs relay the runner's events (``thread.*``, then ``done``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import itertools
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Message as MessageObject
from openai.types.beta.threads import Run
from openai.types.beta.threads.runs import RunStep
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from hearth.domain import CursorPage, PageParams, Principal
from hearth.engine.registry import ModelRegistry
from hearth.errors import HearthError, InvalidRequest, NotFound
from hearth.jobs.bus import EventBus, Listener
from hearth.jobs.runner import JobRunner
from hearth.services.assistants.actions import Action
from hearth.services.assistants.assistants import Assistants, function_names
from hearth.services.assistants.mapping import responses_choice, responses_tool, text_format
from hearth.services.assistants.params import (
    MessageCreateParams,
    ResponseFormat,
    ThreadCreateParams,
    Tool,
    ToolResources,
)
from hearth.services.assistants.run_events import (
    RunEvents,
    event,
    finish_step,
    parse_event,
    without_content,
)
from hearth.services.assistants.threads import Threads
from hearth.services.chat.metadata import Metadata
from hearth.services.containers import Containers
from hearth.services.files import Files
from hearth.services.responses.items import normalize
from hearth.services.responses.params import CreateParams
from hearth.services.responses.runtime import response_error_code
from hearth.services.responses.service import Responses
from hearth.store import leases
from hearth.store.ids import new_id
from hearth.store.models import Run as RunRow
from hearth.store.runs import ACTIVE, RunRepository

MAX_ACTION_ROUNDS = 8
"""Model calls in a row that may call GPT actions; the next must answer."""
EXPIRES_SECONDS = 600
"""A run waiting for tool outputs (or still queued) expires after 10 minutes (OpenAI)."""
FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
"""The one ``include`` value runs and steps accept."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TruncationStrategy(_Strict):
    """``truncation_strategy``: ``auto`` (drop the oldest messages that do not fit) or
    ``last_messages`` (only the last N)."""

    type: Literal["auto", "last_messages"]
    last_messages: int | None = Field(default=None, ge=1)


class RunParams(_Strict):
    """``threads.runs.create`` (and the run fields of ``create_and_run``): overrides of
    the assistant's settings for this run."""

    assistant_id: StrictStr
    model: StrictStr | None = None
    instructions: str | None = None
    additional_instructions: str | None = None
    additional_messages: list[MessageCreateParams] | None = Field(default=None, max_length=32)
    tools: list[Tool] | None = Field(default=None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    max_prompt_tokens: int | None = Field(default=None, ge=256)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    truncation_strategy: TruncationStrategy | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    metadata: Metadata = None
    stream: bool | None = None
    reasoning_effort: str | None = None


class CreateAndRunParams(RunParams):
    """``threads.create_and_run``: a new thread (``thread``) and a run on it."""

    thread: ThreadCreateParams | None = None
    tool_resources: ToolResources | None = None


class ToolOutput(_Strict):
    tool_call_id: StrictStr
    output: str = ""


class SubmitParams(_Strict):
    """``runs.submit_tool_outputs``: one output per waiting function call."""

    tool_outputs: list[ToolOutput]
    stream: bool | None = None


class UpdateParams(_Strict):
    """``runs.update``: only ``metadata``."""

    metadata: Metadata = None


def _message_items(messages: list[Any]) -> list[dict[str, Any]]:
    """Thread messages (oldest first) as Responses input items: their text."""
    raw = []
    for m in messages:
        text = "".join(p.text.value for p in m.content if p.type == "text")
        raw.append({"role": m.role, "content": text})
    return normalize(raw) if raw else []


class Runs:
    """``client.beta.threads.runs`` (+ ``steps``, ``create_and_run``): runs as leased
    background work over ``Responses``; ``start`` / ``stop`` the runner."""

    def __init__(
        self,
        repo: RunRepository,
        assistants: Assistants,
        threads: Threads,
        responses: Responses,
        containers: Containers,
        files: Files,
        registry: ModelRegistry,
        bus: EventBus,
        *,
        lease_seconds: float,
        concurrency: int,
    ) -> None:
        self._repo = repo
        self._assistants = assistants
        self._threads = threads
        self._messages = threads.messages
        self._responses = responses
        self._containers = containers
        self._files = files
        self._registry = registry
        self._bus = bus
        self.work = RunWork(self)
        self.runner = JobRunner(
            repo.sessions, self.work, lease_seconds=lease_seconds, concurrency=concurrency
        )
        bus.on_signal(RunWork.name, self.runner.cancel)

    async def start(self) -> None:
        """Start running queued runs (resumes those whose lease expired)."""
        await self.runner.start()

    async def stop(self) -> None:
        """Stop; runs in progress resume on the next start."""
        await self.runner.stop()

    # --- events to streaming clients ------------------------------------------------------

    async def _publish(self, run_id: str, ev: AssistantStreamEvent | None) -> None:
        """Send ``ev`` to the run's listeners on every replica (``None``: the segment
        ended)."""
        data = None if ev is None else ev.model_dump_json(exclude_unset=True)
        await self._bus.publish(_topic(run_id), data)

    async def _listen(self, run_id: str) -> Listener:
        """The run's events from now on (call before what produces them)."""
        return await self._bus.listen(_topic(run_id))

    @staticmethod
    async def _relay(listener: Listener) -> AsyncGenerator[AssistantStreamEvent, None]:
        async with contextlib.aclosing(listener):
            async for data in listener:
                yield parse_event(data)

    # --- create ---------------------------------------------------------------------------

    async def create(
        self, caller: Principal, thread_id: str, params: RunParams, include: list[str] | None = None
    ) -> Run:
        """A ``queued`` run of ``params.assistant_id`` on the thread (its
        ``additional_messages`` added to the thread first). 404 for an unknown assistant,
        thread or model; 400 when the thread has an active run."""
        _check_include(include)
        run = await self._new_run(caller, thread_id, params)
        await self._insert(caller, run, params)
        return Run.model_validate(run)

    async def stream(
        self, caller: Principal, thread_id: str, params: RunParams, include: list[str] | None = None
    ) -> AsyncIterator[AssistantStreamEvent]:
        """``create`` with ``stream``: the run's ``thread.*`` events until it ends or
        waits for tool outputs. Errors in the request are raised before any event."""
        _check_include(include)
        run = await self._new_run(caller, thread_id, params)
        listener = await self._listen(run["id"])
        await self._insert(caller, run, params)
        return self._started(run, listener, [])

    async def _started(
        self,
        run: dict[str, Any],
        listener: Listener,
        first: list[AssistantStreamEvent],
    ) -> AsyncIterator[AssistantStreamEvent]:
        for ev in first:
            yield ev
        yield event("thread.run.created", run)
        yield event("thread.run.queued", run)
        async for ev in self._relay(listener):
            yield ev

    async def create_and_run(self, caller: Principal, params: CreateAndRunParams) -> Run:
        """A new thread (``params.thread``) and a ``queued`` run on it."""
        thread = await self._new_thread(caller, params)
        return await self.create(caller, thread.id, _run_part(params))

    async def stream_create_and_run(
        self, caller: Principal, params: CreateAndRunParams
    ) -> AsyncIterator[AssistantStreamEvent]:
        """``create_and_run`` with ``stream``: ``thread.created``, then the run's events."""
        thread = await self._new_thread(caller, params)
        run = await self._new_run(caller, thread.id, _run_part(params))
        listener = await self._listen(run["id"])
        await self._insert(caller, run, _run_part(params))
        created = event("thread.created", thread.model_dump(mode="json"))
        return self._started(run, listener, [created])

    async def _new_thread(self, caller: Principal, params: CreateAndRunParams) -> Any:
        await self._assistants.get(caller, params.assistant_id)  # 404 before a thread is made
        thread = params.thread or ThreadCreateParams()
        if params.tool_resources is not None and thread.tool_resources is None:
            resources = params.tool_resources.model_dump(exclude_none=True)
            thread = thread.model_copy(update={"tool_resources": resources})
            thread = ThreadCreateParams.model_validate(thread.model_dump(exclude_none=True))
        return await self._threads.create(caller, thread)

    async def _new_run(
        self, caller: Principal, thread_id: str, params: RunParams
    ) -> dict[str, Any]:
        assistant = await self._assistants.get(caller, params.assistant_id)
        await self._threads.get(caller, thread_id)
        model = params.model or assistant.model
        await self._registry.aget(model, caller.organization_id)
        instructions = (
            params.instructions if params.instructions is not None else assistant.instructions
        )
        if params.additional_instructions:
            instructions = f"{instructions or ''}\n\n{params.additional_instructions}".strip()
        tools = [
            t.model_dump(mode="json", exclude_none=True, by_alias=True)
            for t in (params.tools if params.tools is not None else assistant.tools)
        ]
        # the assistant's GPT actions are offered as functions Hearth calls itself
        named = function_names(tools)
        for action in await self._assistants.actions(caller, assistant.id):
            tools += [op.tool for name, op in action.operations.items() if name not in named]
        for message in params.additional_messages or []:
            await self._messages.create(caller, thread_id, message)
        now = int(time.time())
        chosen = (
            params.response_format
            if params.response_format is not None
            else assistant.response_format
        )
        fmt: Any = (
            chosen.model_dump(mode="json", exclude_none=True, by_alias=True)
            if isinstance(chosen, BaseModel)
            else chosen
        )
        strategy = (
            params.truncation_strategy.model_dump(mode="json")
            if params.truncation_strategy
            else {"type": "auto", "last_messages": None}
        )
        return {
            "id": new_id("run_"),
            "object": "thread.run",
            "created_at": now,
            "assistant_id": assistant.id,
            "thread_id": thread_id,
            "status": "queued",
            "started_at": None,
            "expires_at": now + EXPIRES_SECONDS,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "required_action": None,
            "last_error": None,
            "model": model,
            "instructions": instructions or "",
            "tools": tools,
            "metadata": params.metadata or {},
            "usage": None,
            "temperature": params.temperature
            if params.temperature is not None
            else assistant.temperature,
            "top_p": params.top_p if params.top_p is not None else assistant.top_p,
            "max_prompt_tokens": params.max_prompt_tokens,
            "max_completion_tokens": params.max_completion_tokens,
            "truncation_strategy": strategy,
            "incomplete_details": None,
            "response_format": fmt or "auto",
            "tool_choice": params.tool_choice if params.tool_choice is not None else "auto",
            "parallel_tool_calls": params.parallel_tool_calls is not False,
        }

    async def _insert(self, caller: Principal, run: dict[str, Any], params: RunParams) -> None:
        Run.model_validate(run)
        request = params.model_dump(mode="json", exclude_none=True)
        inserted = await asyncio.to_thread(
            self._repo.insert, caller.project_id, caller.organization_id, run, request
        )
        if not inserted:
            raise InvalidRequest(
                f"Thread {run['thread_id']} already has an active run.",
                param="thread_id",
            )
        self.runner.wake()

    # --- read, update, cancel -------------------------------------------------------------

    async def _row(self, caller: Principal, thread_id: str, run_id: str) -> RunRow:
        row = await asyncio.to_thread(self._repo.get, caller.project_id, thread_id, run_id)
        if row is None:
            raise NotFound(f"No run found with id '{run_id}'.", param="run_id")
        return await self._expire_if_due(row)

    async def _expire_if_due(self, row: RunRow) -> RunRow:
        """A run queued or waiting for tool outputs past ``expires_at`` is ``expired``."""
        run = row.object
        if (
            run["status"] in ("queued", "requires_action")
            and run.get("expires_at")
            and (run["expires_at"] <= time.time())
        ):
            expired = {**run, "status": "expired", "required_action": None}
            if await asyncio.to_thread(
                self._repo.write, row.id, expired, only_if=(run["status"],), release=True
            ):
                row.object, row.status = expired, "expired"
        return row

    async def retrieve(self, caller: Principal, thread_id: str, run_id: str) -> Run:
        """The run as it stands (404 for another project's)."""
        return Run.model_validate((await self._row(caller, thread_id, run_id)).object)

    async def retrieve_when_changed(
        self, caller: Principal, thread_id: str, run_id: str, timeout: float
    ) -> Run:
        """``retrieve``, but a queued or in-progress run is answered once it leaves those
        statuses (ends or requires action), or after ``timeout`` seconds: a long poll for
        the SDK's polling helpers, which then ask again at once instead of sleeping
        between polls. (A run executed by another server process is seen only at the
        timeout.)"""
        events = self._relay(await self._listen(run_id))
        try:
            run = await self.retrieve(caller, thread_id, run_id)
            if run.status not in ("queued", "in_progress"):
                return run
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while (left := deadline - loop.time()) > 0:
                try:
                    ev = await asyncio.wait_for(anext(events), left)
                except (TimeoutError, StopAsyncIteration):  # no news, or the segment ended
                    break
                if _is_status(ev):
                    break
            return await self.retrieve(caller, thread_id, run_id)
        finally:
            await events.aclose()

    async def list(self, caller: Principal, thread_id: str, page: PageParams) -> CursorPage[Run]:
        """A page of the thread's runs."""
        await self._threads.get(caller, thread_id)
        rows = await asyncio.to_thread(self._repo.page, caller.project_id, thread_id, page)
        for row in rows.items:
            await self._expire_if_due(row)
        return rows.to(lambda r: Run.model_validate(r.object))

    async def update(
        self, caller: Principal, thread_id: str, run_id: str, params: UpdateParams
    ) -> Run:
        """Replace the run's ``metadata``."""
        row = await self._row(caller, thread_id, run_id)
        run = {**row.object, "metadata": params.metadata or {}}
        await asyncio.to_thread(self._repo.write, run_id, run)
        return Run.model_validate(run)

    async def cancel(self, caller: Principal, thread_id: str, run_id: str) -> Run:
        """Cancel a run that has not ended (``cancelled``; its generation stops now).
        400 for a run that already ended."""
        row = await self._row(caller, thread_id, run_id)
        status = row.object["status"]
        if status not in ACTIVE:
            raise InvalidRequest(f"Cannot cancel run with status '{status}'.", param="run_id")
        run = {
            **row.object,
            "status": "cancelled",
            "cancelled_at": int(time.time()),
            "required_action": None,
        }
        if not await asyncio.to_thread(self._repo.write, run_id, run, only_if=ACTIVE, release=True):
            return await self.retrieve(caller, thread_id, run_id)
        await self._bus.signal(RunWork.name, run_id)
        for step in await asyncio.to_thread(self._repo.unfinished_steps, run_id):
            finish_step(step.object, "cancelled")
            await asyncio.to_thread(self._repo.put_step, caller.project_id, step.object)
        await self._publish(run_id, event("thread.run.cancelled", run))
        await self._publish(run_id, None)
        return Run.model_validate(run)

    # --- tool outputs ---------------------------------------------------------------------

    async def _submit(
        self, caller: Principal, thread_id: str, run_id: str, params: SubmitParams
    ) -> dict[str, Any]:
        row = await self._row(caller, thread_id, run_id)
        run = row.object
        if run["status"] != "requires_action":
            raise InvalidRequest(
                f'Runs in status "{run["status"]}" do not accept tool outputs.',
                param="run_id",
            )
        waiting = [c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]]
        given = {o.tool_call_id: o.output for o in params.tool_outputs}
        missing = [c for c in waiting if c not in given]
        unknown = [c for c in given if c not in waiting]
        if missing or unknown:
            raise InvalidRequest(
                f"Expected tool outputs for call_ids {waiting}, got {list(given)}.",
                param="tool_outputs",
            )
        items = [
            *row.items,
            *normalize(
                [
                    {"type": "function_call_output", "call_id": c, "output": given[c]}
                    for c in waiting
                ]
            ),
        ]
        steps = [s.object for s in await asyncio.to_thread(self._repo.unfinished_steps, run_id)]
        for step in steps:
            calls = step["step_details"].get("tool_calls") or []
            if calls and calls[0].get("type") == "function":
                calls[0]["function"]["output"] = given.get(calls[0]["id"])
                finish_step(step, "completed")
                await asyncio.to_thread(self._repo.put_step, caller.project_id, step)
        queued = {**run, "status": "queued", "required_action": None}
        if not await asyncio.to_thread(
            self._repo.write, run_id, queued, items=items, only_if=("requires_action",)
        ):
            raise InvalidRequest("The run is no longer waiting for tool outputs.", param="run_id")
        return queued

    async def submit_tool_outputs(
        self, caller: Principal, thread_id: str, run_id: str, params: SubmitParams
    ) -> Run:
        """Give the waiting function calls their outputs; the run continues (``queued``).
        400 unless the run ``requires_action`` and every call it waits for has exactly
        one output."""
        run = await self._submit(caller, thread_id, run_id, params)
        self.runner.wake()
        return Run.model_validate(run)

    async def stream_submit_tool_outputs(
        self, caller: Principal, thread_id: str, run_id: str, params: SubmitParams
    ) -> AsyncIterator[AssistantStreamEvent]:
        """``submit_tool_outputs`` with ``stream``: the continued run's events."""
        listener = await self._listen(run_id)
        run = await self._submit(caller, thread_id, run_id, params)
        self.runner.wake()

        async def events() -> AsyncIterator[AssistantStreamEvent]:
            yield event("thread.run.queued", run)
            async for ev in self._relay(listener):
                yield ev

        return events()

    # --- steps ----------------------------------------------------------------------------

    async def list_steps(
        self,
        caller: Principal,
        thread_id: str,
        run_id: str,
        page: PageParams,
        include: builtins.list[str] | None = None,
    ) -> CursorPage[RunStep]:
        """A page of the run's steps (file search result content only with
        ``include``)."""
        _check_include(include)
        await self._row(caller, thread_id, run_id)
        rows = await asyncio.to_thread(self._repo.steps, caller.project_id, run_id, page)
        return rows.to(lambda r: _step(r.object, include))

    async def retrieve_step(
        self,
        caller: Principal,
        thread_id: str,
        run_id: str,
        step_id: str,
        include: builtins.list[str] | None = None,
    ) -> RunStep:
        """One step of the run."""
        _check_include(include)
        await self._row(caller, thread_id, run_id)
        row = await asyncio.to_thread(self._repo.step, caller.project_id, run_id, step_id)
        if row is None:
            raise NotFound(f"No run step found with id '{step_id}'.", param="step_id")
        return _step(row.object, include)

    # --- execution (RunWork) --------------------------------------------------------------

    async def _link_file(
        self, caller: Principal, container_id: str, file_id: str, filename: str
    ) -> str | None:
        """A container file copied into the Files API (``assistants_output``), as an
        Assistants ``file_path`` annotation names it."""
        try:
            data = await self._containers.file_content(caller, container_id, file_id)
        except HearthError:
            return None
        return (await self._files.create_bytes(caller, filename, data, "assistants_output")).id

    async def _segment(self, row: RunRow) -> None:
        caller = Principal.for_project(row.organization_id, row.project_id)
        run = dict(row.object)
        # what an interrupted attempt of this segment left half-written goes
        leftovers = await asyncio.to_thread(self._repo.unfinished_steps, row.id)
        await asyncio.to_thread(self._repo.delete_steps, [s.id for s in leftovers])
        for step in leftovers:
            created = (step.object["step_details"].get("message_creation") or {}).get("message_id")
            if created:
                with contextlib.suppress(NotFound):
                    await self._messages.delete(caller, run["thread_id"], created)
        run.update(status="in_progress", started_at=run.get("started_at") or int(time.time()))
        if not await asyncio.to_thread(
            self._repo.write, row.id, run, owner=leases.OWNER, only_if=("queued", "in_progress")
        ):
            return
        await self._publish(row.id, event("thread.run.in_progress", run))
        items = list(row.items) or await self._thread_items(caller, run)
        thread = await self._threads.get(caller, run["thread_id"])
        container = await self._threads.container_id(caller, run["thread_id"])
        persist_project = caller.project_id
        written: set[str] = set()

        async def persist(kind: str, obj: dict[str, Any]) -> None:
            if kind == "step":
                await asyncio.to_thread(self._repo.put_step, persist_project, obj)
                return
            message = MessageObject.model_validate(obj)
            if obj["id"] in written:
                await self._threads.update_message(caller, run["thread_id"], message)
            else:
                written.add(obj["id"])
                await self._threads.add_message(caller, run["thread_id"], message)

        async def link(container_id: str, file_id: str, filename: str) -> str | None:
            return await self._link_file(caller, container_id, file_id, filename)

        continuing = bool(row.items)
        actions: dict[str, Action] | None = None
        for rounds in itertools.count():
            used = run.get("usage") or {}
            for kind in ("prompt", "completion"):
                limit = run.get(f"max_{kind}_tokens")
                if rounds and limit and used.get(f"{kind}_tokens", 0) >= limit:
                    run["incomplete_details"] = {"reason": f"max_{kind}_tokens"}
                    await self._end(row.id, run, "incomplete")
                    return
            try:
                params = await self._params(
                    caller, run, thread, container, continuing, rounds >= MAX_ACTION_ROUNDS
                )
                turn = await self._responses.turn(
                    caller, params, input_items=items, max_prompt_tokens=run["max_prompt_tokens"]
                )
            except HearthError as exc:
                await self._end(
                    row.id, run, "failed", error=(response_error_code(exc), exc.message)
                )
                return
            translator = RunEvents(run, persist, link)
            async for ev in turn.events():
                for out in await translator.on(ev):
                    await self._publish(row.id, out)
            final = turn.final
            assert final is not None
            if turn.setup.container_id and container != turn.setup.container_id:
                container = turn.setup.container_id
                await self._threads.set_container(caller, run["thread_id"], container)
            usage = final.usage
            before = run.get("usage") or {"prompt_tokens": 0, "completion_tokens": 0}
            if usage is not None:
                prompt = before["prompt_tokens"] + usage.input_tokens
                completion = before["completion_tokens"] + usage.output_tokens
                run["usage"] = {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                }
            if final.status == "failed":
                error = final.error
                await self._end(
                    row.id,
                    run,
                    "failed",
                    error=(error.code if error else "server_error", error.message if error else ""),
                )
                return
            if final.status == "incomplete":
                run["incomplete_details"] = {"reason": "max_completion_tokens"}
                await self._end(row.id, run, "incomplete")
                return
            if not translator.pending:
                await self._end(row.id, run, "completed")
                return
            items = [*items, *(item.model_dump(mode="json") for item in final.output)]
            if actions is None:
                actions = {
                    name: action
                    for action in await self._assistants.actions(caller, run["assistant_id"])
                    for name in action.operations
                }
            waiting = []
            for pending in translator.pending:
                call = pending["step_details"]["tool_calls"][0]
                action = actions.get(call["function"]["name"])
                if action is None:
                    waiting.append(call)
                    continue
                items += normalize([await self._call_action(row.id, pending, action, persist)])
            if not waiting:
                # only actions were called: their answers go straight back to the model
                if not await asyncio.to_thread(
                    self._repo.write,
                    row.id,
                    run,
                    items=items,
                    owner=leases.OWNER,
                    only_if=("in_progress",),
                ):
                    await self._publish(row.id, None)  # cancelled meanwhile
                    return
                continuing = True
                continue
            await self._require_action(row.id, run, waiting, items)
            return

    async def _call_action(
        self,
        run_id: str,
        step: dict[str, Any],
        action: Action,
        persist: Callable[[str, dict[str, Any]], Awaitable[None]],
    ) -> dict[str, Any]:
        """Call a GPT action for the function call of ``step``, complete the step with
        its output, and return the ``function_call_output`` item the model reads."""
        call = step["step_details"]["tool_calls"][0]
        fn = call["function"]
        fn["output"] = await self._assistants.action_caller.call(
            action, fn["name"], fn["arguments"]
        )
        finish_step(step, "completed")
        await persist("step", step)
        await self._publish(run_id, event("thread.run.step.completed", step))
        return {"type": "function_call_output", "call_id": call["id"], "output": fn["output"]}

    async def _require_action(
        self,
        run_id: str,
        run: dict[str, Any],
        calls: builtins.list[dict[str, Any]],
        items: builtins.list[dict[str, Any]],
    ) -> None:
        """Stop in ``requires_action`` for the client's function ``calls``."""
        run.update(
            status="requires_action",
            expires_at=int(time.time()) + EXPIRES_SECONDS,
            required_action={
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {
                    "tool_calls": [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {
                                "name": c["function"]["name"],
                                "arguments": c["function"]["arguments"],
                            },
                        }
                        for c in calls
                    ]
                },
            },
        )
        if await asyncio.to_thread(
            self._repo.write,
            run_id,
            run,
            items=items,
            owner=leases.OWNER,
            only_if=("in_progress",),
            release=True,
        ):
            await self._publish(run_id, event("thread.run.requires_action", run))
        await self._publish(run_id, None)

    async def _end(
        self,
        run_id: str,
        run: dict[str, Any],
        status: str,
        error: tuple[str, str] | None = None,
    ) -> None:
        now = int(time.time())
        run.update(status=status, required_action=None, expires_at=None)
        if status == "completed":
            run["completed_at"] = now
        elif status == "failed":
            run["failed_at"] = now
            code, message = error or ("server_error", "The server had an error.")
            if code not in ("server_error", "rate_limit_exceeded", "invalid_prompt"):
                code = "server_error"
            run["last_error"] = {"code": code, "message": message}
        written = await asyncio.to_thread(
            self._repo.write,
            run_id,
            run,
            only_if=("queued", "in_progress"),
            release=True,
        )
        if written:
            await self._publish(run_id, event(f"thread.run.{status}", run))
        await self._publish(run_id, None)

    async def _thread_items(
        self, caller: Principal, run: dict[str, Any]
    ) -> builtins.list[dict[str, Any]]:
        messages = await self._threads.messages_for_run(caller, run["thread_id"])
        strategy = run.get("truncation_strategy") or {}
        if strategy.get("type") == "last_messages" and strategy.get("last_messages"):
            messages = messages[-strategy["last_messages"] :]
        return _message_items(messages)

    async def _params(
        self,
        caller: Principal,
        run: dict[str, Any],
        thread: Any,
        recorded: str | None,
        continuing: bool,
        answer: bool = False,
    ) -> CreateParams:
        """The Responses request this run's segment makes (a forced ``tool_choice``
        applies to the run's first model call, not after tool outputs: the model may
        answer then; ``answer``: tools are not offered, after ``MAX_ACTION_ROUNDS`` rounds
        of GPT actions in a row)."""
        assistant = await self._assistants.get(caller, run["assistant_id"])
        stores: list[str] = []
        code_files: list[str] = []
        for resources in (assistant.tool_resources, thread.tool_resources):
            if resources is None:
                continue
            if resources.file_search is not None:
                stores += resources.file_search.vector_store_ids or []
            if resources.code_interpreter is not None:
                code_files += resources.code_interpreter.file_ids or []
        container: Any = recorded
        if container is not None:
            try:
                await self._containers.usable(caller, container)
            except HearthError:
                container = None
        if container is None:
            container = {"type": "auto", "file_ids": code_files} if code_files else {"type": "auto"}
        tools = [
            t for t in (responses_tool(t, stores, container) for t in run["tools"]) if t is not None
        ]
        body: dict[str, Any] = {
            "model": run["model"],
            "instructions": run["instructions"] or None,
            "tools": tools,
            "store": False,
            "parallel_tool_calls": run["parallel_tool_calls"],
            "truncation": "auto",
            # steps show what the code printed and what a search found, as OpenAI's do
            "include": ["code_interpreter_call.outputs", "file_search_call.results"],
        }
        if tools and run.get("tool_choice") not in (None, "auto") and not continuing:
            body["tool_choice"] = responses_choice(run["tool_choice"])
        if tools and answer:
            body["tool_choice"] = "none"
        for key in ("temperature", "top_p"):
            if run.get(key) is not None:
                body[key] = run[key]
        if run.get("max_completion_tokens"):
            used = (run.get("usage") or {}).get("completion_tokens", 0)
            body["max_output_tokens"] = max(run["max_completion_tokens"] - used, 16)
        text = text_format(run.get("response_format"))
        if text is not None:
            body["text"] = text
        return CreateParams.model_validate(body)


def _run_part(params: CreateAndRunParams) -> RunParams:
    return RunParams.model_validate(
        params.model_dump(exclude={"thread", "tool_resources"}, exclude_unset=True)
    )


_SETTLED = {
    f"thread.run.{s}"
    for s in ("requires_action", "completed", "incomplete", "failed", "cancelled", "expired")
}


def _topic(run_id: str) -> str:
    """The run's topic on the event bus."""
    return f"run:{run_id}"


def _is_status(ev: AssistantStreamEvent) -> bool:
    """Whether ``ev`` leaves the run in a status a poller stops at (not queued or in
    progress)."""
    return ev.event in _SETTLED


def _check_include(include: builtins.list[str] | None) -> None:
    for i, value in enumerate(include or []):
        if value != FILE_SEARCH_CONTENT:
            raise InvalidRequest(
                f"Invalid value: '{value}'. Supported values are: '{FILE_SEARCH_CONTENT}'.",
                param=f"include[{i}]",
                code="invalid_value",
            )


def _step(obj: dict[str, Any], include: builtins.list[str] | None) -> RunStep:
    """A stored step as returned: file search result content only when included."""
    if FILE_SEARCH_CONTENT not in (include or []):
        obj = without_content(obj)
    return RunStep.model_validate(obj)


class RunWork:
    """Runs as ``hearth.jobs.Work``: a claimed ``queued`` (or interrupted
    ``in_progress``) run executes its next segment."""

    name = "run"
    table = RunRow
    statuses: tuple[str, ...] = ("queued", "in_progress")

    def __init__(self, runs: Runs) -> None:
        self._runs = runs

    async def run(self, job_id: str) -> None:
        """Execute the run's next segment."""
        row = await asyncio.to_thread(self._runs._repo.by_id, job_id)
        if row is None or row.status not in self.statuses:
            return
        row = await self._runs._expire_if_due(row)
        if row.status not in self.statuses:
            return
        await self._runs._segment(row)

    async def give_up(self, job_id: str, attempts: int) -> None:
        """Fail the run: it was interrupted ``attempts - 1`` times."""
        row = await asyncio.to_thread(self._runs._repo.by_id, job_id)
        if row is not None:
            await self._runs._end(
                job_id,
                dict(row.object),
                "failed",
                error=("server_error", f"The run was interrupted {attempts - 1} times."),
            )

    async def fail(self, job_id: str, error: Exception) -> None:
        """Fail the run: executing it raised ``error`` (a bug)."""
        row = await asyncio.to_thread(self._runs._repo.by_id, job_id)
        if row is not None:
            await self._runs._end(job_id, dict(row.object), "failed")
