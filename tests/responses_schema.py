"""Validators for the Responses API wire format, shared by the Responses tests.

Every response object and every streamed event is checked twice: against the Open Responses
specification's models (``openresponses-types``) and, strictly, against the ``openai`` SDK's
own types, refusing fields neither declares. The SDK builds its objects with ``construct()``
(no validation), so an SDK-driven test alone would let a missing or misnamed field through.

Where the two disagree a server has to satisfy both: a response carries the fields only the
Open Responses spec has (``store``, ``presence_penalty``, ``frequency_penalty``), and an
``error`` event carries the SDK's top-level ``message``/``code``/``param`` as well as the
spec's nested ``error`` object. ``response.function_call_arguments.done`` may carry the
``name`` OpenAI's API reference gives it.
"""

from __future__ import annotations

import itertools
import json
import typing
from enum import StrEnum
from typing import Annotated, Any, Union

from openai.types.responses import (
    Response,
    ResponseErrorEvent,
    ResponseFunctionCallArgumentsDoneEvent,
)
from openai.types.responses.response_stream_event import ResponseStreamEvent
from openresponses_types.types import (
    ErrorStreamingEvent,
    ResponseCompletedStreamingEvent,
    ResponseContentPartAddedStreamingEvent,
    ResponseContentPartDoneStreamingEvent,
    ResponseCreatedStreamingEvent,
    ResponseFailedStreamingEvent,
    ResponseFunctionCallArgumentsDeltaStreamingEvent,
    ResponseFunctionCallArgumentsDoneStreamingEvent,
    ResponseIncompleteStreamingEvent,
    ResponseInProgressStreamingEvent,
    ResponseOutputItemAddedStreamingEvent,
    ResponseOutputItemDoneStreamingEvent,
    ResponseOutputTextAnnotationAddedStreamingEvent,
    ResponseOutputTextDeltaStreamingEvent,
    ResponseOutputTextDoneStreamingEvent,
    ResponseQueuedStreamingEvent,
    ResponseReasoningDeltaStreamingEvent,
    ResponseReasoningDoneStreamingEvent,
    ResponseReasoningSummaryDeltaStreamingEvent,
    ResponseReasoningSummaryDoneStreamingEvent,
    ResponseReasoningSummaryPartAddedStreamingEvent,
    ResponseReasoningSummaryPartDoneStreamingEvent,
    ResponseRefusalDeltaStreamingEvent,
    ResponseRefusalDoneStreamingEvent,
    ResponseResource,
)
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

Event = tuple[str | None, dict[str, Any]]
"""One server-sent event: its ``event:`` name (None when the frame had none) and its data."""

TERMINAL = ("response.completed", "response.incomplete", "response.failed")
"""The events that end a Responses stream, each carrying the final response."""

_OPEN_RESPONSES_EVENTS: tuple[type[BaseModel], ...] = (
    ResponseCreatedStreamingEvent,
    ResponseQueuedStreamingEvent,
    ResponseInProgressStreamingEvent,
    ResponseCompletedStreamingEvent,
    ResponseFailedStreamingEvent,
    ResponseIncompleteStreamingEvent,
    ResponseOutputItemAddedStreamingEvent,
    ResponseOutputItemDoneStreamingEvent,
    ResponseContentPartAddedStreamingEvent,
    ResponseContentPartDoneStreamingEvent,
    ResponseOutputTextDeltaStreamingEvent,
    ResponseOutputTextDoneStreamingEvent,
    ResponseRefusalDeltaStreamingEvent,
    ResponseRefusalDoneStreamingEvent,
    ResponseFunctionCallArgumentsDeltaStreamingEvent,
    ResponseFunctionCallArgumentsDoneStreamingEvent,
    ResponseReasoningSummaryPartAddedStreamingEvent,
    ResponseReasoningSummaryPartDoneStreamingEvent,
    ResponseReasoningDeltaStreamingEvent,
    ResponseReasoningDoneStreamingEvent,
    ResponseReasoningSummaryDeltaStreamingEvent,
    ResponseReasoningSummaryDoneStreamingEvent,
    ResponseOutputTextAnnotationAddedStreamingEvent,
    ErrorStreamingEvent,
)


def _event_type(model: type[BaseModel]) -> str:
    kind = model.model_fields["type"].annotation
    # each spec event declares ``type`` as a one-member string enum
    assert isinstance(kind, type) and issubclass(kind, StrEnum), model
    (member,) = list(kind)
    return member.value


OPEN_RESPONSES_EVENT_MODELS: dict[str, type[BaseModel]] = {
    _event_type(m): m for m in _OPEN_RESPONSES_EVENTS
}
"""Event ``type`` -> the Open Responses model its data must validate as."""

# The SDK's union names its discriminator in SDK-only metadata that pydantic ignores; the
# same members under a pydantic discriminator give one clear error instead of 59.
_SDK_EVENT: Any = Annotated[
    Union[typing.get_args(typing.get_args(ResponseStreamEvent)[0])],  # noqa: UP007
    Field(discriminator="type"),
]
_SDK_EVENTS: TypeAdapter[Any] = TypeAdapter(_SDK_EVENT)

# fields an SDK class does not declare that belong there all the same: what the Open
# Responses spec requires, and ``name`` on the arguments' done event, which OpenAI's API
# reference declares (its Java SDK has it) though the Python SDK's type does not
_UNDECLARED_ALLOWED: dict[type[BaseModel], frozenset[str]] = {
    Response: frozenset(ResponseResource.model_fields) - frozenset(Response.model_fields),
    ResponseErrorEvent: frozenset({"error"}),
    ResponseFunctionCallArgumentsDoneEvent: frozenset({"name"}),
}


def _undeclared(value: Any, path: str) -> list[str]:
    """Paths of JSON fields that no SDK type along the way declares."""
    if isinstance(value, BaseModel):
        allowed = _UNDECLARED_ALLOWED.get(type(value), frozenset())
        found = [f"{path}.{k}" for k in (value.model_extra or {}) if k not in allowed]
        for name in type(value).model_fields:
            found += _undeclared(getattr(value, name), f"{path}.{name}")
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _undeclared(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for k, item in value.items() for p in _undeclared(item, f"{path}.{k}")]
    return []


def _check(what: str, validate: Any, raw: str) -> Any:
    # a ValidationError would show as a test error, not a failure naming the spec
    try:
        return validate(raw, strict=True)
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise AssertionError(f"{what}: {'; '.join(errors)}") from None


def validate_response(obj: dict[str, Any], spec: bool = True) -> Response:
    """``obj`` (a response object's JSON) validated as the spec's ``ResponseResource`` and,
    strictly and with no undeclared field, as the SDK's ``Response``; the SDK object.
    ``spec=False``: the SDK's type only (the Open Responses spec has no hosted tools such
    as ``code_interpreter``)."""
    raw = json.dumps(obj)
    if spec:
        _check("Open Responses ResponseResource", ResponseResource.model_validate_json, raw)
    got: Response = _check("SDK Response", Response.model_validate_json, raw)
    extra = _undeclared(got, "response")
    assert not extra, f"fields neither the SDK nor the spec declares: {extra}"
    return got


def validate_event(data: dict[str, Any], where: str = "event") -> None:
    """One event's data validated as its type's Open Responses model and, strictly and with no
    undeclared field, as the SDK's ``ResponseStreamEvent``."""
    kind = data.get("type")
    model = OPEN_RESPONSES_EVENT_MODELS.get(str(kind))
    assert model is not None, f"{where}: {kind!r} is not an Open Responses event type"
    raw = json.dumps(data)
    _check(f"{where}: Open Responses {model.__name__}", model.model_validate_json, raw)
    got = _check(f"{where}: SDK ResponseStreamEvent", _SDK_EVENTS.validate_json, raw)
    extra = _undeclared(got, where)
    assert not extra, f"fields neither the SDK nor the spec declares: {extra}"


def parse_sse(text: str) -> list[Event]:
    """The events of a ``text/event-stream`` body, each ``(event name, data)``.

    Fails on a frame whose data is not a JSON object: a Responses stream has no
    ``data: [DONE]`` sentinel (the terminal event ends it)."""
    events: list[Event] = []
    for block in text.replace("\r\n", "\n").replace("\r", "\n").split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue  # a comment (keep-alive)
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if not data:
            continue
        body = "\n".join(data)
        assert body != "[DONE]", "a Responses stream must not end with data: [DONE]"
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            raise AssertionError(f"event data is not JSON: {body!r}") from None
        assert isinstance(parsed, dict), f"event data is not a JSON object: {body!r}"
        events.append((name, parsed))
    return events


def validate_events(events: list[Event]) -> dict[str, Any]:
    """Checks a whole Responses stream; returns the final response (validated as
    ``validate_response`` does).

    Each event is named by an ``event:`` line equal to its ``type``, is numbered by
    ``sequence_number`` from 0 up by one, and validates as ``validate_event`` does. The
    stream opens with ``response.created`` then ``response.in_progress`` and ends with one
    terminal event; in between, each output item is opened and closed by
    ``response.output_item.added``/``.done`` at the next ``output_index``, and its parts,
    deltas and done events agree with each other and with the final response."""
    assert events, "no streaming events received"
    for i, (name, data) in enumerate(events):
        kind = data.get("type")
        assert name == kind, f"event {i}: event line {name!r} but data type {kind!r}"
        assert data.get("sequence_number") == i, (
            f"event {i} ({kind}): sequence_number {data.get('sequence_number')!r}, expected {i}"
        )
        validate_event(data, f"event[{i}] {kind}")

    kinds = [data["type"] for _, data in events]
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds[:2]
    assert kinds[-1] in TERMINAL, f"the last event is {kinds[-1]}"
    assert not any(k in TERMINAL or k == "error" for k in kinds[:-1]), kinds

    final = events[-1][1]["response"]
    ids = {data["response"]["id"] for _, data in events if "response" in data}
    assert ids == {final["id"]}, f"events carry different response ids: {ids}"
    for _, data in events[:2]:
        status = data["response"]["status"]
        assert status in ("queued", "in_progress"), f"{data['type']}: status {status!r}"
    expected = kinds[-1].removeprefix("response.")
    assert final["status"] == expected, f"{kinds[-1]} carries status {final['status']!r}"

    _check_items(events[2:-1], final)
    validate_response(final)
    return final


def _check_items(events: list[Event], final: dict[str, Any]) -> None:
    """The item events between ``response.in_progress`` and the terminal event."""
    done_items: list[dict[str, Any]] = []
    item: dict[str, Any] | None = None  # the open item
    parts: dict[int, list[str]] = {}  # the open item's text deltas, by content_index
    texts: dict[int, str] = {}  # its finished texts
    arguments: list[str] = []  # its argument deltas
    for _, data in events:
        kind = data["type"]
        where = f"event {data['sequence_number']} ({kind})"
        if kind == "response.output_item.added":
            assert item is None, f"{where}: item {item and item['id']} is still open"
            assert data["output_index"] == len(done_items), f"{where}: output_index"
            item, parts, texts, arguments = data["item"], {}, {}, []
            assert item["status"] == "in_progress", f"{where}: item status {item['status']!r}"
            continue
        assert item is not None, f"{where}: outside any output item"
        assert data["output_index"] == len(done_items), f"{where}: output_index"
        if kind == "response.output_item.done":
            got = data["item"]
            assert (got["id"], got["type"]) == (item["id"], item["type"]), f"{where}: item"
            assert got["status"] != "in_progress", f"{where}: item still in_progress"
            assert not parts, f"{where}: content parts {list(parts)} still open"
            if got["type"] == "message":
                got_texts = {i: p.get("text") for i, p in enumerate(got["content"])}
                assert got_texts == texts, f"{where}: content {got_texts}, streamed {texts}"
            if arguments:
                assert got["arguments"] == "".join(arguments), f"{where}: arguments"
            done_items.append(got)
            item = None
            continue
        assert data["item_id"] == item["id"], f"{where}: item_id of another item"
        if kind.startswith("response.function_call_arguments."):
            assert item["type"] == "function_call", f"{where}: in a {item['type']} item"
            if kind.endswith(".delta"):
                arguments.append(data["delta"])
            else:
                assert data["arguments"] == "".join(arguments), f"{where}: the deltas differ"
            continue
        index = data.get("content_index")
        if kind == "response.content_part.added":
            assert index == len(texts) + len(parts), f"{where}: content_index {index}"
            parts[index] = []
        elif kind == "response.output_text.delta":
            assert index in parts, f"{where}: content part {index} is not open"
            parts[index].append(data["delta"])
        elif kind == "response.output_text.done":
            assert index in parts, f"{where}: content part {index} is not open"
            assert data["text"] == "".join(parts[index]), f"{where}: the deltas differ"
        elif kind == "response.content_part.done":
            assert index in parts, f"{where}: content part {index} is not open"
            texts[index] = data["part"].get("text")
            assert texts[index] == "".join(parts.pop(index)), f"{where}: the deltas differ"
    assert item is None, f"output item {item and item['id']} never done"
    assert final["output"] == done_items, "the final output differs from the streamed items"


def _runs(kinds: list[str]) -> list[str]:
    """``kinds`` with each run of one event type collapsed to one entry."""
    return [k for k, _ in itertools.groupby(kinds)]


def assert_text_stream(events: list[Event]) -> None:
    """The events of a one-message text answer, in the order OpenAI sends them (one or
    more ``response.output_text.delta``)."""
    kinds = [data["type"] for _, data in events]
    assert _runs(kinds[:-1]) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ], kinds
    assert kinds[-1] in TERMINAL, kinds


def assert_function_call_stream(events: list[Event]) -> list[dict[str, Any]]:
    """At least one function call streamed as ``response.output_item.added``, one or more
    ``response.function_call_arguments.delta``, ``.done``, ``response.output_item.done``;
    the calls' final items."""
    calls = [
        data["output_index"]
        for _, data in events
        if data["type"] == "response.output_item.added" and data["item"]["type"] == "function_call"
    ]
    assert calls, "no response.output_item.added event with a function_call item"
    items = []
    for index in calls:
        mine = [data for _, data in events if data.get("output_index") == index]
        assert _runs([data["type"] for data in mine]) == [
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
        ], f"output {index}: {[data['type'] for data in mine]}"
        assert mine[-1]["item"]["type"] == "function_call", mine[-1]
        items.append(mine[-1]["item"])
    return items
