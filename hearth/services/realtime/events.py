"""Client events to their handlers, and the ``error`` server event (API reference:
Realtime, "Client events" and ``error``).

Each family of client events is a module under ``handlers/`` whose functions register
themselves by event type, as speaches does::

    router = EventRouter()

    @router.register("session.update")
    async def update(session: RealtimeSession, event: dict[str, Any]) -> None: ...

A session looks a handler up by the event's ``type`` and awaits it; an unknown type is an
``InvalidRequest`` naming ``type``. Every ``error`` event, whatever raised it, is built
from a ``hearth.errors`` exception by ``error_event``.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from openai.types.realtime.realtime_error import RealtimeError
from openai.types.realtime.realtime_error_event import RealtimeErrorEvent
from pydantic import BaseModel

from hearth.errors import HearthError, InvalidRequest

if TYPE_CHECKING:
    from hearth.services.realtime.session import RealtimeSession

ServerEvent = dict[str, Any] | BaseModel
"""An event for the client: a dict in the engine's (GA) names whose values may be
sessions, items and responses (``Vocabulary.render`` writes them in the session's
vocabulary), or an SDK event model that is the same in both (``error``)."""

Emit = Callable[[ServerEvent], None]
"""Queue a server event for the client (in order; never blocks)."""

Handler = Callable[["RealtimeSession", dict[str, Any]], Awaitable[None]]
"""``handler(session, event)``: ``event`` is the client's JSON, already checked against
the SDK's event type for the session's vocabulary; raises ``HearthError``."""


class EventRouter:
    """Client event type -> handler."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: str) -> Callable[[Handler], Handler]:
        """Decorator: the handler of client events of type ``kind`` (one per type)."""

        def add(handler: Handler) -> Handler:
            if kind in self._handlers:
                raise ValueError(f"{kind} already has a handler")
            self._handlers[kind] = handler
            return handler

        return add

    def include(self, other: EventRouter) -> None:
        """Take every handler of ``other`` (a family's router)."""
        for kind, handler in other._handlers.items():
            self.register(kind)(handler)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The event types handled, in registration order."""
        return tuple(self._handlers)

    def handler(self, kind: Any) -> Handler:
        """The handler of ``kind``; ``InvalidRequest`` (``param`` ``type``) if none."""
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise InvalidRequest(
                f"Invalid value: '{kind}'. Supported values are: "
                + ", ".join(f"'{k}'" for k in self._handlers)
                + ".",
                param="type",
                code="invalid_value",
            )
        return handler


def new_event_id() -> str:
    """A server event's ``event_id``."""
    return "event_" + secrets.token_urlsafe(15)


def realtime_error(exc: HearthError, event_id: str | None = None) -> RealtimeError:
    """``exc`` as the Realtime error object: ``{type, code, message, param, event_id}``
    (``event_id``: the client event it answers, if any)."""
    return RealtimeError(
        type=exc.error_type, code=exc.code, message=exc.message, param=exc.param, event_id=event_id
    )


def error_event(exc: HearthError, event_id: str | None = None) -> RealtimeErrorEvent:
    """The ``error`` server event for ``exc`` (the same in both vocabularies)."""
    return RealtimeErrorEvent(
        type="error", event_id=new_event_id(), error=realtime_error(exc, event_id)
    )
