"""One Realtime session: client events in, server events out (API reference: Realtime,
client and server events). Transport-free: ``run(receive, send)`` takes the text frames
of any WebSocket.

Speech flows through the session as OpenAI describes: appended audio goes to the input
buffer; server VAD marks where speech starts and stops; at a stop the buffer is
committed as a user item, transcribed by Whisper, and (``create_response``) answered.
Speech that starts while a response is playing cancels it (``interrupt_response``).
Every bad client event gets an ``error`` event naming its ``event_id``; the session
carries on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hearth.audio.stt import Options
from hearth.audio.vad import SileroVad, SpeechStarted, VadConfig, VadEvent
from hearth.errors import HearthError, InvalidRequest
from hearth.services.realtime.audio_in import (
    RATE,
    Committed,
    InputBuffer,
    decode_b64,
    to_16k,
)
from hearth.services.realtime.config import SessionConfig, apply_beta, apply_ga
from hearth.services.realtime.items import (
    OUTPUT_RATE,
    Conversation,
    Item,
    Part,
    item_from_wire,
    new_item_id,
)
from hearth.services.realtime.response import (
    Context,
    ResponseOptions,
    ResponseRun,
)
from hearth.services.realtime.wire import ClientEventError, Vocabulary

log = logging.getLogger(__name__)

SPECULATE_AFTER_MS = 160
"""Silence within a turn after which its transcription starts, before VAD ends the turn
(``silence_duration_ms``, 500 by default): most pauses this long are the end."""


@dataclass
class SessionDeps:
    """The server parts a session uses (built once per server)."""

    context: Callable[[Callable[[dict[str, Any]], None], Conversation], Context]
    check: Callable[[str, Any], None]
    vad: Callable[[], SileroVad | None]
    stt_model: str
    """Whisper model that transcribes turns when the session names none."""
    rate_limits: Callable[[], list[dict[str, Any]]]
    max_buffer_ms: int
    """Most audio the input buffer holds (push-to-talk); more appends get an error."""


class RealtimeSession:
    """State of one connection: config, conversation, input buffer, responses."""

    def __init__(self, deps: SessionDeps, config: SessionConfig, vocabulary: Vocabulary):
        self.deps = deps
        self.config = config
        self.vocab = vocabulary
        self.conversation = Conversation()
        self.conversation_id = "conv_" + config.id.removeprefix("sess_")
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.ctx = deps.context(self.emit, self.conversation)
        self.buffer = InputBuffer(deps.vad())
        self._configure_audio()
        self.active: ResponseRun | None = None
        self._runs: set[ResponseRun] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._speech_item: str | None = None
        self._speech_start_ms = 0
        self._guess: asyncio.Task[str] | None = None  # transcript of the turn so far

    # ---- transport -----------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        """Queue a server event (sent in order by ``run``'s writer)."""
        self._out.put_nowait(event)

    async def run(self, receive: Callable[[], Awaitable[str]],
                  send: Callable[[str], Awaitable[None]]) -> None:
        """Serve until ``receive`` raises (client gone) or the session expires."""
        async def writer() -> None:
            while (event := await self._out.get()) is not None:
                wire = self.vocab.render(event)
                if wire is not None:
                    await send(json.dumps(wire))

        writing = asyncio.create_task(writer())
        self.emit({"type": "session.created", "session": self.config})
        self.emit({"type": "conversation.created",
                   "conversation": {"id": self.conversation_id,
                                    "object": "realtime.conversation"}})
        try:
            while True:
                text = await receive()
                await self.handle(text)
                if writing.done():
                    writing.result()  # the client went away while we wrote
        finally:
            self.close()
            self._out.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writing, 1.0)

    def close(self) -> None:
        """Cancel every response and transcription of this session."""
        for run in list(self._runs):
            run.cancel("client_cancelled")
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # a dropped guess may fail unseen; its error must not be logged as lost
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    # ---- dispatch ------------------------------------------------------------------

    async def handle(self, text: str) -> None:
        """Handle one client event; any problem becomes an ``error`` event."""
        event_id = None
        try:
            event = self.vocab.parse(text)
            event_id = event.get("event_id")
            handler = getattr(self, "_on_" + event["type"].replace(".", "_"))
            await handler(event)
        except ClientEventError as exc:
            self._error(exc, exc.event_id)
        except HearthError as exc:
            self._error(exc, event_id)

    def _error(self, exc: HearthError, event_id: str | None) -> None:
        self.emit({"type": "error", "error": {"type": exc.error_type, "code": exc.code,
                                              "message": exc.message, "param": exc.param,
                                              "event_id": event_id}})

    # ---- session -------------------------------------------------------------------

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        apply = apply_beta if self.vocab.beta else apply_ga
        self.config = apply(self.config, event["session"], self.deps.check)
        self._configure_audio()
        self.emit({"type": "session.updated", "session": self.config})

    def _configure_audio(self) -> None:
        td = self.config.turn_detection
        vad = (VadConfig(td.threshold, td.prefix_padding_ms, td.silence_ms)
               if td is not None else None)
        self.buffer.configure(self.config.input_format, vad)

    # ---- input audio ---------------------------------------------------------------

    async def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        if self.buffer.buffered_ms > self.deps.max_buffer_ms:
            raise InvalidRequest("The input audio buffer is full; commit or clear it.",
                                 param="audio", code="input_audio_buffer_full")
        for vad_event in self.buffer.append(event["audio"]):
            self._on_vad(vad_event)
        td = self.config.turn_detection
        if td is None:
            return
        if not self.buffer.speaking:
            self.buffer.trim(td.prefix_padding_ms + 100)
        elif self.buffer.silence_ms == 0 and self._guess is not None:
            self._guess.cancel()  # the speaker went on: that guess is stale
            self._guess = None
        elif self.buffer.silence_ms >= SPECULATE_AFTER_MS and self._guess is None:
            # the turn has probably ended: transcribe it now, while VAD waits out
            # silence_duration_ms; the audio after this is silence, so it stays valid
            with contextlib.suppress(InvalidRequest):  # under 100 ms: no turn yet
                turn = self.buffer.peek(self._speech_start_ms - td.prefix_padding_ms)
                self._guess = self._spawn(self._stt(turn.samples))

    def _on_vad(self, event: VadEvent) -> None:
        td = self.config.turn_detection
        if isinstance(event, SpeechStarted):
            self._speech_item = new_item_id()
            self._speech_start_ms = event.audio_start_ms
            self.emit({"type": "input_audio_buffer.speech_started",
                       "audio_start_ms": event.audio_start_ms, "item_id": self._speech_item})
            if td is not None and td.interrupt_response and self.active is not None:
                self.active.cancel("turn_detected")
            return
        item_id = self._speech_item or new_item_id()
        self._speech_item = None
        self.emit({"type": "input_audio_buffer.speech_stopped",
                   "audio_end_ms": event.audio_end_ms, "item_id": item_id})
        padding = td.prefix_padding_ms if td is not None else 0
        guess, self._guess = self._guess, None
        try:
            committed = self.buffer.commit(from_ms=self._speech_start_ms - padding)
        except InvalidRequest:
            return  # a blip too short to keep
        self._commit(committed, item_id, guess)
        if td is not None and td.create_response:
            self._spawn(self._respond_after(self.active))

    async def _respond_after(self, previous: ResponseRun | None) -> None:
        if previous is not None and previous.task is not None:
            await asyncio.wait([previous.task])
        if self.active is None:
            self._start_response(self._options({}))

    async def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        committed = self.buffer.commit()
        item_id = self._speech_item or new_item_id()
        self._speech_item = None
        self._commit(committed, item_id)

    def _commit(self, committed: Committed, item_id: str,
                guess: asyncio.Task[str] | None = None) -> None:
        part = Part("input_audio", audio=committed.samples,
                    audio_b64=base64.b64encode(committed.wire).decode())
        item = Item(id=item_id, type="message", role="user", content=[part])
        previous = self.conversation.insert(item)
        self.emit({"type": "input_audio_buffer.committed", "item_id": item.id,
                   "previous_item_id": previous})
        self._added(item, previous)
        self._transcribe(item, part, guess)

    async def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        self.buffer.clear()
        self._speech_item = None
        self.emit({"type": "input_audio_buffer.cleared"})

    async def _on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        raise InvalidRequest("output_audio_buffer.clear is only supported over WebRTC and "
                             "SIP; over a WebSocket, send response.cancel and "
                             "conversation.item.truncate.", code="unsupported_event")

    def _transcribe(self, item: Item, part: Part,
                    guess: asyncio.Task[str] | None = None) -> None:
        loop = asyncio.get_running_loop()
        item.transcribed = loop.create_future()
        self._spawn(self._run_transcription(item, part, guess))

    async def _stt(self, samples: np.ndarray) -> str:
        """Whisper (greedy) on 16 kHz ``samples`` with the session's transcription
        settings, on an audio worker."""
        spec = self.config.transcription or {}
        slot = self.ctx.audio.stt_model(spec.get("model") or self.deps.stt_model)
        options = Options(language=spec.get("language"), prompt=spec.get("prompt"),
                          beam_size=1)

        def work() -> str:
            with slot.use() as stt:
                result = stt.transcribe(samples, options)
                return "".join(s.text for s in result.segments).strip()

        return await self.ctx.audio.workers.run(work)

    async def _run_transcription(self, item: Item, part: Part,
                                 guess: asyncio.Task[str] | None) -> None:
        assert item.transcribed is not None and part.audio is not None
        shown = self.config.transcription  # None: transcribe for the model, show nothing
        samples = part.audio
        try:
            transcript = await (guess if guess is not None else self._stt(samples))
        except HearthError as exc:
            item.transcribed.set_result("")
            if shown is not None:
                self.emit({"type": "conversation.item.input_audio_transcription.failed",
                           "item_id": item.id, "content_index": 0,
                           "error": {"type": exc.error_type, "code": exc.code,
                                     "message": exc.message, "param": exc.param}})
            return
        except BaseException:  # cancelled (session closing): answer with nothing
            item.transcribed.set_result("")
            raise
        part.transcript = transcript
        part.audio = None  # only Whisper needed it; the client's bytes stay for retrieve
        item.transcribed.set_result(transcript)
        if shown is not None:
            self.emit({"type": "conversation.item.input_audio_transcription.delta",
                       "item_id": item.id, "content_index": 0, "delta": transcript})
            self.emit({"type": "conversation.item.input_audio_transcription.completed",
                       "item_id": item.id, "content_index": 0, "transcript": transcript,
                       "usage": {"type": "duration",
                                 "seconds": round(samples.size / RATE, 3)}})

    # ---- conversation ----------------------------------------------------------------

    def _added(self, item: Item, previous: str | None) -> None:
        self.emit({"type": "conversation.item.added", "previous_item_id": previous,
                   "item": item})
        self.emit({"type": "conversation.item.done", "previous_item_id": previous,
                   "item": item})

    def _item_from_event(self, raw: dict[str, Any], param: str) -> Item:
        item = item_from_wire(raw, self.vocab.beta, param)
        for index, part in enumerate(item.content):
            if part.type == "input_audio" and part.audio_b64:
                data = decode_b64(part.audio_b64, f"{param}.content[{index}].audio")
                part.audio = to_16k(data, self.config.input_format)
        return item

    async def _on_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = self._item_from_event(event["item"], "item")
        previous = self.conversation.insert(item, event.get("previous_item_id"))
        self._added(item, previous)
        for part in item.content:
            if part.audio is not None and part.transcript is None:
                self._transcribe(item, part)
                break

    def _item(self, item_id: str, action: str) -> Item:
        item = self.conversation.get(item_id)
        if item is None:
            raise InvalidRequest(f"Error {action} item: the item with id '{item_id}' does "
                                 "not exist.", param="item_id", code="item_not_found")
        return item

    async def _on_conversation_item_retrieve(self, event: dict[str, Any]) -> None:
        item = self._item(event["item_id"], "retrieving")
        self.emit({"type": "conversation.item.retrieved", "item": item, "with_audio": True})

    async def _on_conversation_item_delete(self, event: dict[str, Any]) -> None:
        self._item(event["item_id"], "deleting")
        self.conversation.delete(event["item_id"])
        self.emit({"type": "conversation.item.deleted", "item_id": event["item_id"]})

    async def _on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        item = self._item(event["item_id"], "truncating")
        index, end_ms = event["content_index"], event["audio_end_ms"]
        if item.type != "message" or item.role != "assistant":
            raise InvalidRequest("Only assistant messages can be truncated.", param="item_id",
                                 code="invalid_value")
        if not 0 <= index < len(item.content) or item.content[index].type != "output_audio":
            raise InvalidRequest(f"Content index {index} is not an audio part of item "
                                 f"'{item.id}'.", param="content_index",
                                 code="invalid_value")
        duration = item.audio_samples * 1000 // OUTPUT_RATE
        if end_ms < 0 or end_ms > duration:
            raise InvalidRequest(f"audio_end_ms ({end_ms}) is beyond the end of the item's "
                                 f"audio ({duration} ms).", param="audio_end_ms",
                                 code="invalid_value")
        item.truncate(end_ms)
        self.emit({"type": "conversation.item.truncated", "item_id": item.id,
                   "content_index": index, "audio_end_ms": end_ms})

    # ---- responses -------------------------------------------------------------------

    def _options(self, raw: dict[str, Any]) -> ResponseOptions:
        """The session's settings with ``response.create``'s overrides applied."""
        c = self.config
        # validate the overrides as a session would be, then take the response's fields
        overrides = {k: v for k, v in raw.items()
                     if k not in ("conversation", "metadata", "input")}
        if self.vocab.beta:
            merged = apply_beta(c, overrides, self.deps.check, "response")
        else:
            merged = apply_ga(c, {**overrides, "type": "realtime"}, self.deps.check,
                              "response")
        items = None
        if raw.get("input") is not None:
            items = [self._resolve(r, f"response.input[{i}]")
                     for i, r in enumerate(raw["input"])]
        conversation = raw.get("conversation") or "auto"
        if conversation not in ("auto", "none"):
            raise InvalidRequest(f"Invalid value: '{conversation}'. Supported values are: "
                                 "'auto' and 'none'.", param="response.conversation",
                                 code="invalid_value")
        return ResponseOptions(
            conversation=conversation, output_modalities=merged.output_modalities,
            instructions=merged.instructions, voice=merged.voice, speed=merged.speed,
            output_format=merged.output_format, tools=merged.tools,
            tool_choice=merged.tool_choice, temperature=merged.temperature,
            max_output_tokens=merged.max_output_tokens, metadata=raw.get("metadata"),
            input=items)

    def _resolve(self, raw: dict[str, Any], param: str) -> Item:
        if raw.get("type") == "item_reference":
            return self._item(raw.get("id") or "", "referencing")
        return self._item_from_event(raw, param)

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        options = self._options(event.get("response") or {})
        if options.conversation != "none" and self.active is not None:
            raise InvalidRequest(
                f"Conversation already has an active response in progress: "
                f"{self.active.state.id}. Wait until the response is finished before "
                "creating a new one.", code="conversation_already_has_active_response")
        self._start_response(options)

    def _start_response(self, options: ResponseOptions) -> None:
        if "audio" in options.output_modalities:
            self.deps.check("voice", options.voice)  # speech models may be absent
        run = ResponseRun(self.ctx, options,
                          self.conversation_id if options.conversation != "none" else None)
        if run.in_conversation:
            self.active = run
        self._runs.add(run)
        run.start().add_done_callback(lambda _: self._finished(run))

    def _finished(self, run: ResponseRun) -> None:
        self._runs.discard(run)
        if self.active is run:
            self.active = None
        self.emit({"type": "rate_limits.updated", "rate_limits": self.deps.rate_limits()})

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        runs = [r for r in self._runs if wanted in (None, r.state.id)]
        if wanted is None:
            runs = [self.active] if self.active is not None else []
        if not runs:
            raise InvalidRequest("Cancellation failed: no active response found.",
                                 code="response_cancel_not_active")
        for run in runs:
            run.cancel("client_cancelled")
