"""OpenAI's two Realtime event vocabularies over one session engine.

The engine speaks GA event names (``response.output_audio.delta``,
``conversation.item.added`` / ``.done``, ...) and keeps sessions, items and responses as
objects; ``Vocabulary.render`` turns each event into the chosen vocabulary's JSON (beta:
``response.audio.delta``, one ``conversation.item.created``, flat session fields).
Client events are validated against the official SDK's own event types for the
vocabulary (``openai.types.realtime`` / ``openai.types.beta.realtime``).
"""

from __future__ import annotations

import json
import secrets
from typing import Any, get_args

from openai.types.beta.realtime.realtime_client_event import (
    RealtimeClientEvent as BetaClientEvent,
)
from openai.types.realtime.realtime_client_event import RealtimeClientEvent as GAClientEvent
from pydantic import BaseModel, ValidationError

from hearth.errors import InvalidRequest
from hearth.services.realtime.config import SessionConfig, render_beta, render_ga
from hearth.services.realtime.items import Item, item_wire
from hearth.services.realtime.response import ResponseState

_BETA_NAMES = {
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "conversation.item.added": "conversation.item.created",
}
_BETA_DROPPED = {"conversation.item.done"}  # beta has only item.created



def _by_type(union: Any) -> dict[str, type[BaseModel]]:
    """Each event class of an SDK union by its ``type`` literal, so an event is checked
    against its own class (the union's errors would name another member's fields)."""
    members = get_args(get_args(union)[0])
    return {get_args(m.model_fields["type"].annotation)[0]: m for m in members}


_GA_EVENTS = _by_type(GAClientEvent)
_BETA_EVENTS = _by_type(BetaClientEvent)

CLIENT_EVENTS = ("session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
                 "input_audio_buffer.clear", "conversation.item.create",
                 "conversation.item.retrieve", "conversation.item.truncate",
                 "conversation.item.delete", "response.create", "response.cancel",
                 "output_audio_buffer.clear")


class ClientEventError(InvalidRequest):
    """A client event that cannot be handled; carries the event's ``event_id``."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 event_id: str | None = None) -> None:
        super().__init__(message, param=param, code=code)
        self.event_id = event_id


def _without_references(event: dict[str, Any]) -> dict[str, Any]:
    """``response.create`` minus ``item_reference`` inputs: the SDK's request params
    allow them but its event model does not (they are checked when resolved)."""
    response = event.get("response")
    if event["type"] != "response.create" or not isinstance(response, dict) or \
            not isinstance(response.get("input"), list):
        return event
    kept = [i for i in response["input"]
            if not (isinstance(i, dict) and i.get("type") == "item_reference")]
    return {**event, "response": {**response, "input": kept}}


class Vocabulary:
    """GA (``beta=False``) or beta event names and object shapes."""

    def __init__(self, beta: bool) -> None:
        self.beta = beta
        self._events = _BETA_EVENTS if beta else _GA_EVENTS

    def parse(self, text: str) -> dict[str, Any]:
        """A client event as a dict, checked against the SDK's types. Raises
        ``ClientEventError`` for bad JSON, an unknown ``type`` or an invalid field."""
        try:
            event = json.loads(text)
        except ValueError:
            raise ClientEventError("The event is not valid JSON.", code="invalid_json") from None
        if not isinstance(event, dict):
            raise ClientEventError("An event must be a JSON object.", code="invalid_event")
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        kind = event.get("type")
        if kind not in CLIENT_EVENTS:
            raise ClientEventError(
                f"Invalid value: '{kind}'. Supported values are: "
                + ", ".join(f"'{k}'" for k in CLIENT_EVENTS) + ".",
                param="type", code="invalid_value", event_id=event_id)
        try:
            self._events[kind].model_validate(_without_references(event))
        except ValidationError as exc:
            first = exc.errors()[0]
            # drop union member names (``AudioPCM``) and validator tags from the path
            loc = ".".join(str(p) for p in first["loc"]
                           if not (str(p)[:1].isupper() or "[" in str(p) or "-" in str(p)))
            raise ClientEventError(f"Invalid '{loc or kind}': {first['msg']}.",
                                   param=loc or None, code="invalid_value",
                                   event_id=event_id) from None
        return event

    def render(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The wire JSON of an engine event (``None``: not in this vocabulary)."""
        kind = event["type"]
        if self.beta:
            if kind in _BETA_DROPPED:
                return None
            kind = _BETA_NAMES.get(kind, kind)
        out: dict[str, Any] = {"type": kind, "event_id": "event_" + secrets.token_urlsafe(15)}
        with_audio = bool(event.get("with_audio"))
        for key, value in event.items():
            if key in ("type", "with_audio"):
                continue
            if isinstance(value, SessionConfig):
                value = render_beta(value) if self.beta else render_ga(value)
            elif isinstance(value, Item):
                value = item_wire(value, self.beta, with_audio)
            elif isinstance(value, ResponseState):
                value = value.wire(self.beta)
            out[key] = value
        return out
