"""One Realtime session: client events in, server events out (API reference: Realtime,
client and server events). Transport-free: ``run(receive, send)`` takes the text frames
of any WebSocket.

The session holds the state of one connection and dispatches each client event by its
``type`` to the handler its family registered (``handlers/``: session configuration,
input audio and turns, conversation items, responses). Every bad client event gets an
``error`` event naming its ``event_id``; the session carries on until the client leaves
or the session reaches ``expires_at``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hearth.audio.vad import SileroVad
from hearth.errors import HearthError, InvalidRequest
from hearth.services.realtime.audio_in import InputBuffer
from hearth.services.realtime.config import SessionConfig
from hearth.services.realtime.events import Emit, ServerEvent, error_event
from hearth.services.realtime.handlers import router
from hearth.services.realtime.handlers.session_config import configure_audio
from hearth.services.realtime.handlers.transcription import Heard
from hearth.services.realtime.items import Conversation
from hearth.services.realtime.response import Context, ResponseRun
from hearth.services.realtime.wire import Vocabulary


@dataclass
class SessionDeps:
    """The server parts a session uses (built once per server)."""

    context: Callable[[Emit, Conversation], Context]
    check: Callable[[str, Any], None]
    vad: Callable[[], SileroVad | None]
    """The Silero model, loaded on first call (blocking: call it on a thread)."""
    stt_model: str
    """Whisper model whose transcript of each turn the chat model reads (the fast one)."""
    rate_limits: Callable[[], list[dict[str, Any]]]
    max_buffer_ms: int
    """Most audio the input buffer holds (push-to-talk); more appends get an error."""
    warm: Callable[[SessionConfig], None] = lambda config: None
    """Start loading, in the background, the speech models ``config`` will use."""


@dataclass
class Turn:
    """The user's turn that server VAD is following."""

    item_id: str | None = None
    """The id its item will have (sent with ``speech_started``)."""
    start_ms: int = 0
    guess: asyncio.Task[Heard] | None = None
    """Its transcript so far, started in a pause that may end it."""


class RealtimeSession:
    """State of one connection: config, conversation, input buffer, responses, and the
    tasks working for them; ``handle`` dispatches one client event."""

    def __init__(self, deps: SessionDeps, config: SessionConfig, vocabulary: Vocabulary):
        self.deps = deps
        self.config = config
        self.vocab = vocabulary
        self.conversation = Conversation()
        self.conversation_id = "conv_" + config.id.removeprefix("sess_")
        self._out: asyncio.Queue[ServerEvent | None] = asyncio.Queue()
        self.ctx = deps.context(self.emit, self.conversation)
        self.buffer = InputBuffer()  # its VAD model comes with the first audio
        self.turn = Turn()
        self.active: ResponseRun | None = None
        """The response in the conversation now (at most one)."""
        self.answers_pending = 0
        """Turns server VAD ended whose response has not started yet."""
        self.fast_stt_off = False
        """The session's transcription model also writes what the chat model reads (its
        speaker's language is one the fast model does not know)."""
        self.runs: set[ResponseRun] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        configure_audio(self)

    def emit(self, event: ServerEvent) -> None:
        """Queue a server event (sent in order by ``run``'s writer)."""
        self._out.put_nowait(event)

    async def run(
        self, receive: Callable[[], Awaitable[str]], send: Callable[[str], Awaitable[None]]
    ) -> None:
        """Serve until ``receive`` raises (the client is gone) or, after an ``error``
        event with code ``session_expired``, at ``config.expires_at``."""

        async def writer() -> None:
            while (event := await self._out.get()) is not None:
                wire = self.vocab.render(event)
                if wire is not None:
                    await send(json.dumps(wire))

        writing = asyncio.create_task(writer())
        self.emit({"type": "session.created", "session": self.config})
        self.emit(
            {
                "type": "conversation.created",
                "conversation": {"id": self.conversation_id, "object": "realtime.conversation"},
            }
        )
        lifetime = asyncio.timeout(self.config.expires_at - time.time())
        try:
            async with lifetime:
                while True:
                    await self.handle(await receive())
                    if writing.done():
                        writing.result()  # the client went away while we wrote
        except TimeoutError:
            if not lifetime.expired():
                raise
            self.emit(
                error_event(
                    InvalidRequest("Your session hit the maximum duration.", code="session_expired")
                )
            )
        finally:
            self.close()
            self._out.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writing, 1.0)

    def close(self) -> None:
        """Cancel every response and transcription of this session."""
        for run in list(self.runs):
            run.cancel("client_cancelled")
        for task in list(self._tasks):
            task.cancel()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of this session (cancelled by ``close``)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # a dropped guess may fail unseen; its error must not be logged as lost
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    async def handle(self, text: str) -> None:
        """Handle one client event; any problem becomes an ``error`` event."""
        event_id = None
        try:
            event = self.vocab.decode(text)
            if isinstance(event.get("event_id"), str):
                event_id = event["event_id"]
            handler = router.handler(event.get("type"))
            self.vocab.validate(event)
            await handler(self, event)
        except HearthError as exc:
            self.emit(error_event(exc, event_id))
