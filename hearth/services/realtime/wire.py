"""OpenAI's two Realtime event vocabularies over one session engine.

The engine speaks GA event names (``response.output_audio.delta``,
``conversation.item.added`` / ``.done``, ...) and keeps sessions, items and responses as
objects; ``Vocabulary.render`` turns each event into the chosen vocabulary's JSON (beta:
``response.audio.delta``, one ``conversation.item.created``, flat session fields).
Client events and session objects are validated against the official SDK's own types for
the vocabulary (``openai.types.realtime`` / ``openai.types.beta.realtime``); a problem is
an ``InvalidRequest`` whose ``param`` is the field's JSON path.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from openai.types.beta.realtime.realtime_client_event import (
    RealtimeClientEvent as BetaClientEvent,
)
from openai.types.realtime.realtime_client_event import RealtimeClientEvent as GAClientEvent
from pydantic import BaseModel, TypeAdapter, ValidationError

from hearth.errors import InvalidRequest, invalid_request
from hearth.services.realtime.config import SessionConfig, render_beta, render_ga
from hearth.services.realtime.events import new_event_id
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


def _session_type(events: dict[str, type[BaseModel]]) -> TypeAdapter[Any]:
    """The SDK's ``session`` object of the vocabulary (``session.update``'s field)."""
    annotation: Any = events["session.update"].model_fields["session"].annotation
    return TypeAdapter(annotation)


_GA_SESSION = _session_type(_GA_EVENTS)
_BETA_SESSION = _session_type(_BETA_EVENTS)


def _without_references(event: dict[str, Any]) -> dict[str, Any]:
    """``response.create`` minus ``item_reference`` inputs: the SDK's request params
    allow them but its event model does not (they are checked when resolved)."""
    response = event.get("response")
    if (
        event["type"] != "response.create"
        or not isinstance(response, dict)
        or not isinstance(response.get("input"), list)
    ):
        return event
    kept = [
        i
        for i in response["input"]
        if not (isinstance(i, dict) and i.get("type") == "item_reference")
    ]
    return {**event, "response": {**response, "input": kept}}


class Vocabulary:
    """GA (``beta=False``) or beta event names and object shapes."""

    def __init__(self, beta: bool) -> None:
        self.beta = beta
        self._events = _BETA_EVENTS if beta else _GA_EVENTS
        self._session = _BETA_SESSION if beta else _GA_SESSION

    @staticmethod
    def decode(text: str) -> dict[str, Any]:
        """A client event's JSON object; ``InvalidRequest`` (``invalid_json``,
        ``invalid_event``) for anything else."""
        try:
            event = json.loads(text)
        except ValueError:
            raise InvalidRequest("The event is not valid JSON.", code="invalid_json") from None
        if not isinstance(event, dict):
            raise InvalidRequest("An event must be a JSON object.", code="invalid_event")
        return event

    def validate(self, event: dict[str, Any]) -> None:
        """Check ``event`` (of a handled ``type``) against the SDK's class for it;
        ``InvalidRequest`` naming the first bad field."""
        try:
            self._events[event["type"]].model_validate(_without_references(event))
        except ValidationError as exc:
            raise invalid_request(exc) from None

    def session_fields(self, session: Any, param: str = "session") -> dict[str, Any]:
        """A client's ``session`` object checked strictly against the SDK's session type
        (no ``"0.5"`` for a number), as the fields it set (one set to null stays null).
        ``InvalidRequest`` naming the field under ``param``."""
        try:
            model = self._session.validate_python(session, strict=True)
        except ValidationError as exc:
            raise invalid_request(exc, param) from None
        return self._session.dump_python(
            model,
            mode="json",
            exclude_unset=True,
        )

    def render(self, event: dict[str, Any] | BaseModel) -> dict[str, Any] | None:
        """The wire JSON of an engine event (``None``: not in this vocabulary); an SDK
        event model (``error``) is the same in both."""
        if isinstance(event, BaseModel):
            return event.model_dump(mode="json")
        kind = event["type"]
        if self.beta:
            if kind in _BETA_DROPPED:
                return None
            kind = _BETA_NAMES.get(kind, kind)
        out: dict[str, Any] = {"type": kind, "event_id": new_event_id()}
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
