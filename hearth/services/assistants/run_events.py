"""The Assistants vocabulary over the Responses runtime: one ``Turn``'s events as run
steps, thread messages and ``thread.*`` stream events (OpenAI API reference: Assistants
> Streaming; the SDK's ``AssistantStreamEvent``), as Realtime renders one session engine
in two vocabularies.

A message item becomes a ``message_creation`` step and an assistant message
(``thread.message.created`` … ``.delta`` … ``.completed``); a function call, a file search
or a code interpreter call becomes a ``tool_calls`` step. Function call steps stay
``in_progress`` until the client submits their outputs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Awaitable, Callable
from typing import Any

from openai.types.beta import AssistantStreamEvent
from pydantic import TypeAdapter

from hearth.store.ids import new_id

_EVENT: TypeAdapter[AssistantStreamEvent] = TypeAdapter(AssistantStreamEvent)


def event(name: str, data: dict[str, Any]) -> AssistantStreamEvent:
    """One ``thread.*`` event, validated as the SDK's type."""
    return _EVENT.validate_python({"event": name, "data": data})


def parse_event(data: str) -> AssistantStreamEvent:
    """An event from its JSON (as ``model_dump_json`` wrote it on the event bus)."""
    return _EVENT.validate_json(data)


def message_object(
    run: dict[str, Any], message_id: str, status: str, content: list[dict[str, Any]]
) -> dict[str, Any]:
    """An assistant message a run wrote (``thread.message``)."""
    now = int(time.time())
    return {
        "id": message_id,
        "object": "thread.message",
        "created_at": now,
        "thread_id": run["thread_id"],
        "role": "assistant",
        "content": content,
        "assistant_id": run["assistant_id"],
        "run_id": run["id"],
        "attachments": [],
        "metadata": {},
        "status": status,
        "incomplete_details": None,
        "completed_at": now if status == "completed" else None,
        "incomplete_at": now if status == "incomplete" else None,
    }


def step_object(run: dict[str, Any], step_type: str, details: dict[str, Any]) -> dict[str, Any]:
    """A new ``in_progress`` run step (``thread.run.step``)."""
    return {
        "id": new_id("step_"),
        "object": "thread.run.step",
        "created_at": int(time.time()),
        "run_id": run["id"],
        "assistant_id": run["assistant_id"],
        "thread_id": run["thread_id"],
        "type": step_type,
        "status": "in_progress",
        "step_details": details,
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "metadata": None,
        "usage": None,
    }


def without_content(step: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``step`` without its file search results' content (shown only when a
    request includes ``step_details.tool_calls[*].file_search.results[*].content``)."""
    out = copy.deepcopy(step)
    for call in (out.get("step_details") or {}).get("tool_calls") or []:
        for result in (call.get("file_search") or {}).get("results") or []:
            result.pop("content", None)
    return out


def finish_step(step: dict[str, Any], status: str) -> None:
    """Set ``step``'s final ``status`` and its time."""
    step["status"] = status
    field = {"completed": "completed_at", "cancelled": "cancelled_at", "failed": "failed_at"}
    step[field.get(status, "expired_at")] = int(time.time())


def tool_call(item: dict[str, Any], include_content: bool = False) -> dict[str, Any]:
    """A Responses tool call item as an Assistants step's tool call."""
    kind = item["type"]
    if kind == "function_call":
        return {
            "id": item["call_id"],
            "type": "function",
            "function": {"name": item["name"], "arguments": item["arguments"], "output": None},
        }
    if kind == "file_search_call":
        results = [
            {
                "file_id": r["file_id"],
                "file_name": r.get("filename") or "",
                "score": r.get("score") or 0.0,
                **(
                    {"content": [{"type": "text", "text": r.get("text") or ""}]}
                    if include_content
                    else {}
                ),
            }
            for r in item.get("results") or []
        ]
        return {
            "id": item["id"],
            "type": "file_search",
            "file_search": {
                "ranking_options": {"ranker": "auto", "score_threshold": 0.0},
                "results": results,
            },
        }
    outputs = [
        {"type": "logs", "logs": o["logs"]}
        for o in item.get("outputs") or []
        if o.get("type") == "logs"
    ]
    return {
        "id": item["id"],
        "type": "code_interpreter",
        "code_interpreter": {"input": item.get("code") or "", "outputs": outputs},
    }


Persist = Callable[[str, dict[str, Any]], Awaitable[None]]
"""``(kind, object)``: store a step (``step``) or a message (``message``) as it is now."""
FileLink = Callable[[str, str, str], Awaitable[str | None]]
"""``(container_id, container file id, file name) -> Files API id``: a file the code
wrote, copied where ``client.files.content`` reads it (None when it is gone)."""


class RunEvents:
    """Translates one segment of a run (one ``Turn``): call ``on`` with each Responses
    event, in order; it returns the ``thread.*`` events and persists steps and messages
    through ``persist``. ``pending`` lists the function calls the run now waits for."""

    def __init__(self, run: dict[str, Any], persist: Persist, link_file: FileLink) -> None:
        self.run = run
        self._persist = persist
        self._link = link_file
        self._steps: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, dict[str, Any]] = {}
        self._text: dict[str, list[str]] = {}
        self.pending: list[dict[str, Any]] = []

    async def on(self, ev: Any) -> list[AssistantStreamEvent]:
        """The ``thread.*`` events for one Responses event."""
        kind = ev.type
        if kind == "response.output_item.added":
            return await self._added(ev.item.model_dump(mode="json"))
        if kind == "response.output_text.delta":
            return self._text_delta(ev.item_id, ev.delta)
        if kind == "response.function_call_arguments.delta":
            return self._arguments_delta(ev.item_id, ev.delta)
        if kind == "response.output_item.done":
            return await self._done(ev.item.model_dump(mode="json"))
        return []

    async def _added(self, item: dict[str, Any]) -> list[AssistantStreamEvent]:
        if item["type"] == "reasoning":
            return []
        if item["type"] == "message":
            message_id = new_id("msg_")
            message = message_object(self.run, message_id, "in_progress", [])
            step = step_object(
                self.run,
                "message_creation",
                {"type": "message_creation", "message_creation": {"message_id": message_id}},
            )
            self._messages[item["id"]] = message
            self._text[item["id"]] = []
            self._steps[item["id"]] = step
            await self._persist("step", step)
            await self._persist("message", message)
            return [
                event("thread.run.step.created", step),
                event("thread.run.step.in_progress", step),
                event("thread.message.created", message),
                event("thread.message.in_progress", message),
            ]
        step = step_object(
            self.run,
            "tool_calls",
            {"type": "tool_calls", "tool_calls": [tool_call(item, include_content=True)]},
        )
        self._steps[item["id"]] = step
        await self._persist("step", step)
        shown = without_content(step)
        return [
            event("thread.run.step.created", shown),
            event("thread.run.step.in_progress", shown),
        ]

    def _text_delta(self, item_id: str, delta: str) -> list[AssistantStreamEvent]:
        message = self._messages.get(item_id)
        if message is None:
            return []
        self._text[item_id].append(delta)
        body = {"index": 0, "type": "text", "text": {"value": delta, "annotations": []}}
        return [
            event(
                "thread.message.delta",
                {
                    "id": message["id"],
                    "object": "thread.message.delta",
                    "delta": {"content": [body]},
                },
            )
        ]

    def _arguments_delta(self, item_id: str, delta: str) -> list[AssistantStreamEvent]:
        step = self._steps.get(item_id)
        if step is None:
            return []
        call = step["step_details"]["tool_calls"][0]
        body = {
            "index": 0,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": delta, "output": None},
        }
        return [
            event(
                "thread.run.step.delta",
                {
                    "id": step["id"],
                    "object": "thread.run.step.delta",
                    "delta": {"step_details": {"type": "tool_calls", "tool_calls": [body]}},
                },
            )
        ]

    async def _done(self, item: dict[str, Any]) -> list[AssistantStreamEvent]:
        step = self._steps.get(item["id"])
        if step is None:
            return []
        if item["type"] == "message":
            message = self._messages[item["id"]]
            part = (item.get("content") or [{}])[0]
            text, annotations = await self._annotated(
                part.get("text", "".join(self._text[item["id"]])), part.get("annotations") or []
            )
            status = "completed" if item.get("status") == "completed" else "incomplete"
            message.update(
                message_object(
                    self.run,
                    message["id"],
                    status,
                    [{"type": "text", "text": {"value": text, "annotations": annotations}}],
                ),
                created_at=message["created_at"],
            )
            finish_step(step, "completed")
            await self._persist("message", message)
            await self._persist("step", step)
            return [
                event(f"thread.message.{status}", message),
                event("thread.run.step.completed", step),
            ]
        # stored with the results' content; steps.list shows it with ``include``
        step["step_details"]["tool_calls"] = [tool_call(item, include_content=True)]
        if item["type"] == "function_call":
            # the step completes when the client submits the call's output
            self.pending.append(step)
            await self._persist("step", step)
            return []
        finish_step(step, "completed")
        await self._persist("step", step)
        return [event("thread.run.step.completed", without_content(step))]

    async def _annotated(
        self, text: str, annotations: list[dict[str, Any]]
    ) -> tuple[str, list[dict[str, Any]]]:
        """The answer with a citation marker per cited file appended (Assistants
        annotations name a span of the text), and those annotations: ``file_citation``
        for files a search found, ``file_path`` for files the code wrote."""
        out: list[dict[str, Any]] = []
        for n, a in enumerate(annotations):
            if a["type"] == "file_citation":
                marker = f"【{n}†{a['filename']}】"
                body = {"type": "file_citation", "file_citation": {"file_id": a["file_id"]}}
            elif a["type"] == "container_file_citation":
                file_id = await self._link(a["container_id"], a["file_id"], a["filename"])
                if file_id is None:
                    continue
                marker = f"sandbox:/mnt/data/{a['filename']}"
                body = {"type": "file_path", "file_path": {"file_id": file_id}}
            else:
                continue
            start = len(text) + 1
            text = f"{text} {marker}"
            out.append({**body, "text": marker, "start_index": start, "end_index": len(text)})
        return text, out
