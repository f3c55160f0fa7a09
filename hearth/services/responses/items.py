"""Conversation items: the input a request sends, the output a response makes, and the
chat messages the model reads (OpenAI API reference: Responses > input items; the Open
Responses specification's item types).

Items are kept as the JSON the API returns (``{"type": "message", "id": "msg_...",
"role", "status", "content": [...]}``, ``function_call``, ``function_call_output``,
``file_search_call``, ``code_interpreter_call``, ``reasoning``, ``compaction``), with ids
assigned on the way in, so a stored response, a conversation and a replayed
``previous_response_id`` chain all hold the same objects.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from openai.types.responses import (
    ResponseCodeInterpreterToolCall,
    ResponseCompactionItem,
    ResponseFileSearchToolCall,
    ResponseFunctionToolCallItem,
    ResponseFunctionToolCallOutputItem,
    ResponseInputMessageItem,
    ResponseOutputMessage,
    ResponseReasoningItem,
)
from pydantic import BaseModel, ValidationError

from hearth.errors import InvalidRequest, invalid_request
from hearth.services.chat.params import FunctionCall, Message, ToolCall
from hearth.store.ids import new_id

PREFIX = {
    "message": "msg_",
    "function_call": "fc_",
    "function_call_output": "fco_",
    "file_search_call": "fs_",
    "code_interpreter_call": "ci_",
    "reasoning": "rs_",
    "compaction": "cmp_",
}
"""Id prefixes of the item types Hearth keeps."""
ROLES = ("user", "assistant", "system", "developer")
UNSEEABLE = {
    "input_image": "Image inputs are not supported by this model: it cannot see.",
    "input_audio": "Audio inputs are not supported in responses; use audio.transcriptions.",
    "input_file": "File inputs are not supported yet; add the file to a vector store and use "
    "the file_search tool.",
    "input_video": "Video inputs are not supported by this model.",
}
COMPACTION_PREFIX = "hearth-compaction-v1:"
"""``encrypted_content`` of Hearth's compaction items: this prefix, then base64 JSON."""


def new_item_id(kind: str) -> str:
    """A fresh id for an item of type ``kind``."""
    return new_id(PREFIX.get(kind, "item_"))


def _text(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid type for '{param}': expected a string.", param=param)
    return value


def _content(role: str, content: Any, param: str) -> list[dict[str, Any]]:
    """A message's ``content`` as a list of parts (a string becomes one text part)."""
    text_type = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        return [_part(text_type, content)]
    if not isinstance(content, list):
        raise InvalidRequest(
            f"Invalid type for '{param}': expected a string or an array of content parts.",
            param=param,
        )
    parts = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise InvalidRequest(f"Invalid type for '{where}': expected an object.", param=where)
        kind = part.get("type")
        if not isinstance(kind, str):
            raise InvalidRequest(
                f"Invalid type for '{where}.type': expected a string.", param=f"{where}.type"
            )
        if kind in UNSEEABLE:
            raise InvalidRequest(UNSEEABLE[kind], param=f"{where}.type", code="unsupported_value")
        if kind in ("input_text", "output_text"):
            parts.append(_part(kind, _text(part.get("text"), f"{where}.text")))
        elif kind == "refusal" and role == "assistant":
            parts.append({"type": "refusal", "refusal": _text(part.get("refusal"), where)})
        else:
            raise InvalidRequest(
                f"Invalid value: '{kind}'. Supported values are: 'input_text', "
                "'output_text', 'refusal', 'input_image', 'input_file'.",
                param=f"{where}.type",
                code="invalid_value",
            )
    return parts


def _part(kind: str, text: str) -> dict[str, Any]:
    if kind == "output_text":
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"type": kind, "text": text}


def normalize(raw: str | list[dict[str, Any]] | None, param: str = "input") -> list[dict[str, Any]]:
    """The request's ``input`` as stored items, each with an id (kept when the client sent
    one). A string is one user message. Raises ``InvalidRequest`` naming the item for an
    unknown type or a malformed field; image, audio and file parts are refused (400)
    because the bundled models cannot read them."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return [message("user", [_part("input_text", raw)])]
    out = []
    for i, item in enumerate(raw):
        where = f"{param}[{i}]"
        normalized = _item(item, where)
        if normalized["type"] != "item_reference":
            _check_shape(normalized, where)
        out.append(normalized)
    return out


_SHAPES: dict[str, type[BaseModel]] = {
    "user": ResponseInputMessageItem,
    "assistant": ResponseOutputMessage,
    "function_call": ResponseFunctionToolCallItem,
    "function_call_output": ResponseFunctionToolCallOutputItem,
    "file_search_call": ResponseFileSearchToolCall,
    "code_interpreter_call": ResponseCodeInterpreterToolCall,
    "reasoning": ResponseReasoningItem,
    "compaction": ResponseCompactionItem,
}


def _check_shape(item: dict[str, Any], where: str) -> None:
    """``item`` must be what the API returns for its type (the SDK's item types), so
    whatever is stored can be listed and replayed: a 400 naming the field otherwise."""
    kind = item["type"]
    if kind == "message":
        kind = "assistant" if item["role"] == "assistant" else "user"
    try:
        _SHAPES[kind].model_validate(item)
    except ValidationError as exc:
        raise invalid_request(exc, prefix=where) from None


def message(role: str, content: list[dict[str, Any]], item_id: str | None = None) -> dict[str, Any]:
    """A ``message`` item (status ``completed``)."""
    return {
        "id": item_id or new_item_id("message"),
        "type": "message",
        "status": "completed",
        "role": role,
        "content": content,
    }


def _item(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InvalidRequest(f"Invalid type for '{where}': expected an object.", param=where)
    kind = item.get("type", "message" if "role" in item else None)
    if not isinstance(kind, str):
        raise InvalidRequest(
            f"Invalid type for '{where}.type': expected a string.", param=f"{where}.type"
        )
    given = item.get("id")
    if given is not None and not isinstance(given, str):
        raise InvalidRequest(f"Invalid type for '{where}.id': expected a string.", param=where)
    if kind == "message":
        role = item.get("role")
        if role not in ROLES:
            raise InvalidRequest(
                f"Invalid value: '{role}'. Supported values are: 'user', 'assistant', "
                "'system' and 'developer'.",
                param=f"{where}.role",
                code="invalid_value",
            )
        content = _content(role, item.get("content"), f"{where}.content")
        return message(role, content, given)
    if kind == "function_call":
        return {
            "id": given or new_item_id(kind),
            "type": kind,
            "status": "completed",
            "call_id": _text(item.get("call_id"), f"{where}.call_id"),
            "name": _text(item.get("name"), f"{where}.name"),
            "arguments": _text(item.get("arguments"), f"{where}.arguments"),
        }
    if kind == "function_call_output":
        output = item.get("output")
        if isinstance(output, list):  # content parts: their text is the output
            output = "".join(p["text"] for p in _content("user", output, f"{where}.output"))
        return {
            "id": given or new_item_id(kind),
            "type": kind,
            "status": "completed",
            "call_id": _text(item.get("call_id"), f"{where}.call_id"),
            "output": _text(output, f"{where}.output"),
        }
    if kind == "file_search_call":
        queries = item.get("queries") or []
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise InvalidRequest(f"'{where}.queries' must be strings.", param=f"{where}.queries")
        return {
            "id": given or new_item_id(kind),
            "type": kind,
            "status": "completed",
            "queries": queries,
            "results": item.get("results"),
        }
    if kind == "code_interpreter_call":
        return {
            "id": given or new_item_id(kind),
            "type": kind,
            "status": item.get("status") or "completed",
            "code": item.get("code"),
            "container_id": _text(item.get("container_id"), f"{where}.container_id"),
            "outputs": item.get("outputs"),
        }
    if kind == "reasoning":
        return {
            "id": given or new_item_id(kind),
            "type": kind,
            "summary": item.get("summary") or [],
            "content": item.get("content") or [],
            "encrypted_content": item.get("encrypted_content"),
        }
    if kind == "compaction":
        return {
            "id": given or new_item_id(kind),
            "type": kind,
            "encrypted_content": _text(item.get("encrypted_content"), f"{where}.encrypted_content"),
        }
    if kind == "item_reference":
        return {"type": "item_reference", "id": _text(given, f"{where}.id")}
    raise InvalidRequest(
        f"Invalid value: '{kind}'. Supported values are: 'message', 'function_call', "
        "'function_call_output', 'file_search_call', 'code_interpreter_call', 'reasoning', "
        "'compaction' and 'item_reference'.",
        param=f"{where}.type",
        code="invalid_value",
    )


def resolve_references(
    items: list[dict[str, Any]], known: Sequence[dict[str, Any]], param: str = "input"
) -> list[dict[str, Any]]:
    """``items`` with each ``item_reference`` replaced by the item it names, looked up in
    ``known`` (the context: the previous responses' or the conversation's items).
    ``NotFound`` style 400 when it names none."""
    by_id = {k["id"]: k for k in known if "id" in k}
    out = []
    for i, item in enumerate(items):
        if item["type"] != "item_reference":
            out.append(item)
            continue
        found = by_id.get(item["id"])
        if found is None:
            raise InvalidRequest(
                f"Item with id '{item['id']}' not found.", param=f"{param}[{i}]", code=None
            )
        out.append(found)
    return out


def check_outputs(context: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> None:
    """Every ``function_call_output`` in ``new`` must answer a ``function_call`` earlier in
    ``context`` + ``new`` (OpenAI's 400 otherwise)."""
    calls = {i["call_id"] for i in context if i["type"] == "function_call"}
    for i, item in enumerate(new):
        if item["type"] == "function_call":
            calls.add(item["call_id"])
        elif item["type"] == "function_call_output" and item["call_id"] not in calls:
            raise InvalidRequest(
                f"No tool call found for function call output with call_id {item['call_id']}.",
                param=f"input[{i}]",
            )


def compaction_content(summary: str) -> str:
    """``encrypted_content`` for a compaction item carrying ``summary``."""
    payload = base64.b64encode(json.dumps({"summary": summary}).encode()).decode()
    return COMPACTION_PREFIX + payload


def compaction_summary(content: str) -> str | None:
    """The summary a Hearth compaction item carries; None for anything else (another
    server's encrypted content means nothing here)."""
    if not content.startswith(COMPACTION_PREFIX):
        return None
    try:
        data = json.loads(base64.b64decode(content[len(COMPACTION_PREFIX) :]))
    except ValueError:
        return None
    summary = data.get("summary") if isinstance(data, dict) else None
    return summary if isinstance(summary, str) else None


def message_text(item: dict[str, Any]) -> str:
    """A message item's text parts joined (refusals as their text)."""
    return "".join(p.get("text") or p.get("refusal") or "" for p in item["content"])


def search_report(item: dict[str, Any]) -> str:
    """What the model reads back from a ``file_search_call``: its results as numbered
    passages with their file names, or a note that nothing was found."""
    results = item.get("results") or []
    if not results:
        return "No results found."
    return "\n\n".join(
        f"[{n}] {r.get('filename') or r.get('file_id')}:\n{r.get('text') or ''}"
        for n, r in enumerate(results, 1)
    )


MAX_REPORT_CHARS = 4000
"""Characters of a code interpreter call's logs the model reads back (the end is kept:
tracebacks and results come last)."""


def interpreter_report(item: dict[str, Any]) -> str:
    """What the model reads back from a ``code_interpreter_call``: its logs (the end of
    long ones) and a note per image."""
    parts: list[str] = []
    for output in item.get("outputs") or []:
        if output.get("type") == "logs":
            parts.append(output.get("logs") or "")
        elif output.get("type") == "image":
            parts.append("[an image was displayed to the user]\n")
    text = "".join(parts).strip()
    if len(text) > MAX_REPORT_CHARS:
        text = "[...]\n" + text[-MAX_REPORT_CHARS:]
    return text or "(the code ran and printed nothing)"


def to_messages(items: Sequence[dict[str, Any]], instructions: str | None) -> list[Message]:
    """The chat messages the model reads for ``items`` (already checked), after a system
    message holding ``instructions``. Function calls become the assistant's tool calls and
    their outputs tool messages; a ``file_search_call`` becomes a call of the
    ``file_search`` tool and its results a tool message, a ``code_interpreter_call`` a
    call of ``code_interpreter`` and its logs a tool message; reasoning items are not shown
    again (as OpenAI drops earlier reasoning from the context); a compaction item shows
    its summary as a system message."""
    out: list[Message] = []
    if instructions:
        out.append(Message(role="system", content=instructions))
    for item in items:
        kind = item["type"]
        if kind == "message":
            out.append(Message(role=item["role"], content=message_text(item)))
        elif kind == "function_call":
            _add_call(out, item["call_id"], item["name"], item["arguments"])
        elif kind == "function_call_output":
            out.append(Message(role="tool", content=item["output"], tool_call_id=item["call_id"]))
        elif kind == "file_search_call":
            arguments = json.dumps({"queries": item.get("queries") or []})
            _add_call(out, item["id"], "file_search", arguments)
            out.append(Message(role="tool", content=search_report(item), tool_call_id=item["id"]))
        elif kind == "code_interpreter_call":
            arguments = json.dumps({"code": item.get("code") or ""})
            _add_call(out, item["id"], "code_interpreter", arguments)
            out.append(
                Message(role="tool", content=interpreter_report(item), tool_call_id=item["id"])
            )
        elif kind == "compaction":
            summary = compaction_summary(item["encrypted_content"])
            if summary:
                out.append(
                    Message(
                        role="system", content=f"Summary of the conversation so far:\n{summary}"
                    )
                )
    return out


def _add_call(out: list[Message], call_id: str, name: str, arguments: str) -> None:
    """Add a call to the assistant message just before it, or start one: parallel calls
    are one assistant turn."""
    call = ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))
    last = out[-1] if out else None
    if last is not None and last.role == "assistant" and last.tool_calls:
        last.tool_calls.append(call)
    else:
        out.append(Message(role="assistant", content=None, tool_calls=[call]))


def logged_record(
    response: dict[str, Any],
    request: dict[str, Any],
    context: Sequence[dict[str, Any]],
    input_items: Sequence[dict[str, Any]],
    metadata: dict[str, str] | None,
) -> dict[str, Any]:
    """A stored response as the record a stored chat completion makes for evals
    (``StoredCompletions.select``): ``request.messages`` are the chat messages the model
    read (instructions, the ``previous_response_id`` chain, the input), ``response`` a
    chat completion whose answer is the response's ``output_text``."""
    messages = to_messages([*context, *input_items], request.get("instructions"))
    text = "".join(
        message_text(item)
        for item in response.get("output") or []
        if item["type"] == "message" and item["role"] == "assistant"
    )
    usage = response.get("usage") or {}
    record_request: dict[str, Any] = {
        "model": response["model"],
        "messages": [m.model_dump(mode="json", exclude_none=True) for m in messages],
    }
    if request.get("tools"):
        record_request["tools"] = request["tools"]
    return {
        "id": response["id"],
        "created_at": int(response["created_at"]),
        "model": response["model"],
        "metadata": dict(metadata or {}),
        "request": record_request,
        "response": {
            "id": response["id"],
            "object": "chat.completion",
            "created": int(response["created_at"]),
            "model": response["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": {
                "prompt_tokens": usage.get("input_tokens", 0),
                "completion_tokens": usage.get("output_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
        },
    }
