"""One Realtime response (API reference: Realtime, ``response.create`` and the
``response.*`` server events): the model streams text through Chat Completions, and for
audio output each finished sentence is synthesized by Piper on an audio worker while the
model goes on, so the first audio delta leaves long before the answer is complete.

Cancelling (``response.cancel``, or the user speaking over it) stops the model and the
synthesis at once; the assistant item keeps the sentences whose audio was already sent.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hearth.audio.codecs import G711_RATE, float_to_pcm16, g711_encode, resample
from hearth.audio.registry import AudioRegistry
from hearth.errors import HearthError, InvalidRequest
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.realtime.config import GA_FORMATS
from hearth.services.realtime.items import (
    OUTPUT_RATE,
    Conversation,
    Item,
    Part,
    Spoken,
    chat_messages,
    item_wire,
    new_item_id,
)
from hearth.services.realtime.sentences import SentenceSplitter

log = logging.getLogger(__name__)

DELTA_MS = 200
"""Audio per ``response.output_audio.delta``."""

AUDIO_TOKEN_MS = 50
"""Assistant audio is counted as one token per 50 ms, as OpenAI bills it."""

Emit = Callable[[dict[str, Any]], None]


@dataclass
class ResponseOptions:
    """A response's settings: the session's, with ``response.create`` overrides."""

    conversation: str
    output_modalities: list[str]
    instructions: str
    voice: str
    speed: float
    output_format: str
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    temperature: float
    max_output_tokens: int | str
    metadata: dict[str, str] | None = None
    input: list[Item] | None = None  # out-of-band context instead of the conversation


@dataclass
class ResponseState:
    """The ``response`` object of ``response.created`` / ``response.done``."""

    options: ResponseOptions
    conversation_id: str | None
    id: str = field(default_factory=lambda: "resp_" + secrets.token_urlsafe(15))
    status: str = "in_progress"
    status_details: dict[str, Any] | None = None
    output: list[Item] = field(default_factory=list)
    usage: dict[str, Any] | None = None

    def wire(self, beta: bool) -> dict[str, Any]:
        o = self.options
        out: dict[str, Any] = {
            "id": self.id, "object": "realtime.response", "status": self.status,
            "status_details": self.status_details,
            "output": [item_wire(i, beta) for i in self.output],
            "conversation_id": self.conversation_id, "metadata": o.metadata,
            "usage": self.usage}
        if beta:
            out.update(modalities=["text", "audio"] if "audio" in o.output_modalities
                       else ["text"], voice=o.voice, output_audio_format=o.output_format,
                       temperature=o.temperature, max_output_tokens=o.max_output_tokens)
        else:
            out.update(output_modalities=o.output_modalities,
                       max_output_tokens=o.max_output_tokens,
                       audio={"output": {"format": GA_FORMATS[o.output_format],
                                         "voice": o.voice}})
        return out


@dataclass
class Context:
    """What a response needs from its session."""

    chat: ChatCompletions
    chat_model: str
    organization_id: str
    audio: AudioRegistry
    conversation: Conversation
    emit: Emit


class ResponseRun:
    """Runs one response as a task; ``cancel(reason)`` ends it as ``cancelled``."""

    def __init__(self, ctx: Context, options: ResponseOptions, conversation_id: str | None):
        self.ctx = ctx
        self.state = ResponseState(options, conversation_id)
        self.cancel_reason: str | None = None
        self._message: Item | None = None
        self._calls: list[Item] = []
        self._chat_usage: Any = None
        self.task: asyncio.Task[None] | None = None

    @property
    def in_conversation(self) -> bool:
        return self.state.options.conversation != "none"

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._run(), name=f"realtime-{self.state.id}")
        return self.task

    def cancel(self, reason: str) -> None:
        """Stop now (``reason``: ``client_cancelled`` or ``turn_detected``)."""
        if self.task is not None and not self.task.done() and self.cancel_reason is None:
            self.cancel_reason = reason
            self.task.cancel()

    async def _run(self) -> None:
        emit = self.ctx.emit
        emit({"type": "response.created", "response": self.state})
        finish = None
        try:
            finish = await self._generate()
        except asyncio.CancelledError:
            if self.cancel_reason is None:
                raise
            self.state.status = "cancelled"
            self.state.status_details = {"type": "cancelled", "reason": self.cancel_reason}
        except HearthError as exc:
            self._fail(exc.error_type, exc.code, exc.message)
        except Exception:
            log.exception("realtime response failed")
            self._fail("server_error", None, "The response failed.")
        else:
            if finish == "length":
                self.state.status = "incomplete"
                self.state.status_details = {"type": "incomplete",
                                             "reason": "max_output_tokens"}
            else:
                self.state.status = "completed"
        self._close_message()
        self._close_calls()
        if self._chat_usage is not None:
            self._usage(self._chat_usage)
        emit({"type": "response.done", "response": self.state})

    def _fail(self, kind: str, code: str | None, message: str) -> None:
        self.state.status = "failed"
        self.state.status_details = {"type": "failed",
                                     "error": {"type": kind, "code": code, "message": message}}
        self.ctx.emit({"type": "error", "error": {"type": kind, "code": code,
                                                  "message": message, "param": None,
                                                  "event_id": None}})

    def _params(self, items: list[Item], strict: bool = True) -> ChatCompletionParams:
        o = self.state.options
        body: dict[str, Any] = {
            "model": self.ctx.chat_model, "stream": True,
            "stream_options": {"include_usage": True},
            "messages": chat_messages(o.instructions, items),
            "temperature": o.temperature}
        if o.max_output_tokens != "inf":
            body["max_completion_tokens"] = o.max_output_tokens
        if o.tools and o.tool_choice != "none":
            body["tools"] = [{"type": "function", "function": {
                "name": t["name"], "description": t.get("description") or "",
                "parameters": t.get("parameters") or {"type": "object", "properties": {}},
                "strict": strict}}
                for t in o.tools]
            choice = o.tool_choice
            body["tool_choice"] = ({"type": "function", "function": {"name": choice["name"]}}
                                   if isinstance(choice, dict) else choice)
        return ChatCompletionParams.model_validate(body)

    async def _generate(self) -> str | None:
        o = self.state.options
        items = o.input if o.input is not None else list(self.ctx.conversation.items)
        for item in items:  # the user's last words must be transcribed before we answer
            if item.transcribed is not None:
                await asyncio.shield(item.transcribed)
        params = self._params(items)
        try:
            meta, handle = await self.ctx.chat.start(params, self.ctx.organization_id)
        except InvalidRequest as exc:
            # Realtime tools have no `strict`; arguments follow the schema whenever the
            # grammar engine can enforce it (a small model needs that), else it is a hint
            if exc.code != "invalid_json_schema":
                raise
            params = self._params(items, strict=False)
            meta, handle = await self.ctx.chat.start(params, self.ctx.organization_id)
        audio_out = "audio" in o.output_modalities
        speaker = _Speaker(self) if audio_out else None
        finish = None
        try:
            async for chunk in self.ctx.chat.stream(meta, handle, params):
                if chunk.usage is not None:
                    self._chat_usage = chunk.usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish = choice.finish_reason or finish
                delta = choice.delta
                if delta.content:
                    message = self._open_message(audio_out)
                    if speaker is not None:
                        speaker.feed(delta.content)
                    else:
                        message.content[0].text = (message.content[0].text or "") + delta.content
                        self._emit_part("response.output_text.delta", delta=delta.content)
                for call in delta.tool_calls or []:
                    if call.id:
                        if speaker is not None:
                            await speaker.finish()
                        self._close_message()
                        name = call.function.name if call.function else None
                        self._open_call(call.id, name or "")
                    if call.function and call.function.arguments:
                        self._call_delta(call.function.arguments)
            if speaker is not None:
                await speaker.finish()
        finally:
            if speaker is not None:
                speaker.stop()
        return finish

    def _usage(self, usage: Any) -> None:
        cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
        audio_ms = sum(i.audio_samples for i in self.state.output) * 1000 // OUTPUT_RATE
        audio_tokens = math.ceil(audio_ms / AUDIO_TOKEN_MS)
        output = usage.completion_tokens + audio_tokens
        self.state.usage = {
            "total_tokens": usage.prompt_tokens + output, "input_tokens": usage.prompt_tokens,
            "output_tokens": output,
            "input_token_details": {"text_tokens": usage.prompt_tokens, "audio_tokens": 0,
                                    "cached_tokens": cached},
            "output_token_details": {"text_tokens": usage.completion_tokens,
                                     "audio_tokens": audio_tokens}}

    # ---- output items ---------------------------------------------------------------

    def _add_output(self, item: Item) -> None:
        state, emit = self.state, self.ctx.emit
        index = len(state.output)
        state.output.append(item)
        emit({"type": "response.output_item.added", "response_id": state.id,
              "output_index": index, "item": item})
        if self.in_conversation:
            previous = self.ctx.conversation.insert(item)
            emit({"type": "conversation.item.added", "previous_item_id": previous,
                  "item": item})

    def _done_output(self, item: Item) -> None:
        emit = self.ctx.emit
        emit({"type": "response.output_item.done", "response_id": self.state.id,
              "output_index": self.state.output.index(item), "item": item})
        if self.in_conversation:
            emit({"type": "conversation.item.done", "item": item})

    def _open_message(self, audio_out: bool) -> Item:
        if self._message is not None:
            return self._message
        kind = "output_audio" if audio_out else "output_text"
        part = Part(kind, transcript="") if audio_out else Part(kind, text="")
        item = Item(id=new_item_id(), type="message", role="assistant", status="in_progress",
                    content=[part])
        self._message = item
        self._add_output(item)
        self._emit_part_event("response.content_part.added", part)
        return item

    def _part_fields(self) -> dict[str, Any]:
        assert self._message is not None
        return {"response_id": self.state.id, "item_id": self._message.id,
                "output_index": self.state.output.index(self._message), "content_index": 0}

    def _emit_part(self, kind: str, **fields: Any) -> None:
        self.ctx.emit({"type": kind, **self._part_fields(), **fields})

    def _emit_part_event(self, kind: str, part: Part) -> None:
        wire = ({"type": "audio", "transcript": part.transcript or ""}
                if part.type == "output_audio" else {"type": "text", "text": part.text or ""})
        self._emit_part(kind, part=wire)

    def _item_status(self) -> str:
        """An output item ends ``completed`` unless its response did not."""
        return "completed" if self.state.status in ("in_progress", "completed") \
            else "incomplete"

    def _close_message(self) -> None:
        item = self._message
        if item is None:
            return
        part = item.content[0]
        if part.type == "output_audio":
            self._emit_part("response.output_audio.done")
            self._emit_part("response.output_audio_transcript.done",
                            transcript=part.transcript or "")
        else:
            self._emit_part("response.output_text.done", text=part.text or "")
        self._emit_part_event("response.content_part.done", part)
        self._message = None
        item.status = self._item_status()
        self._done_output(item)

    def _open_call(self, call_id: str, name: str) -> None:
        item = Item(id=new_item_id(), type="function_call", status="in_progress",
                    call_id=call_id, name=name, arguments="")
        self._calls.append(item)
        self._add_output(item)

    def _call_fields(self, item: Item) -> dict[str, Any]:
        return {"response_id": self.state.id, "item_id": item.id,
                "output_index": self.state.output.index(item), "call_id": item.call_id}

    def _call_delta(self, text: str) -> None:
        item = self._calls[-1]
        item.arguments = (item.arguments or "") + text
        self.ctx.emit({"type": "response.function_call_arguments.delta",
                       **self._call_fields(item), "delta": text})

    def _close_calls(self) -> None:
        for item in self._calls:
            if item.status != "in_progress":
                continue
            self.ctx.emit({"type": "response.function_call_arguments.done",
                           **self._call_fields(item), "name": item.name,
                           "arguments": item.arguments or ""})
            item.status = self._item_status()
            self._done_output(item)

    # ---- audio ------------------------------------------------------------------------

    def send_audio(self, text: str, wire: bytes, samples: int) -> None:
        """Transcript and audio of one synthesized piece (called in order)."""
        message = self._message
        assert message is not None
        part = message.content[0]
        spaced = text if not part.transcript else " " + text
        part.transcript = (part.transcript or "") + spaced
        self._emit_part("response.output_audio_transcript.delta", delta=spaced)
        fmt = self.state.options.output_format
        # bytes per delta: 24 kHz 16-bit PCM, or G.711's one byte per 8 kHz sample
        step = DELTA_MS * (48 if fmt == "pcm16" else 8)
        for start in range(0, len(wire), step):
            self._emit_part("response.output_audio.delta",
                            delta=base64.b64encode(wire[start:start + step]).decode())
        message.audio_samples += samples
        message.spoken.append(Spoken(text, message.audio_samples))


class _Speaker:
    """Sentences of one response, synthesized in order on audio workers."""

    def __init__(self, run: ResponseRun) -> None:
        self._run = run
        o = run.state.options
        self._slot = run.ctx.audio.tts_voice("tts-1", o.voice)
        self._speed, self._fmt = o.speed, o.output_format
        self._splitter = SentenceSplitter()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._speak())

    def feed(self, text: str) -> None:
        for piece in self._splitter.feed(text):
            self._queue.put_nowait(piece)

    async def finish(self) -> None:
        """Synthesize what is left and wait until every piece is sent."""
        rest = self._splitter.flush()
        if rest:
            self._queue.put_nowait(rest)
        self._queue.put_nowait(None)
        await self._task
        self._task = asyncio.create_task(self._speak())  # a later message may follow

    def stop(self) -> None:
        self._task.cancel()

    async def _speak(self) -> None:
        workers = self._run.ctx.audio.workers
        while (piece := await self._queue.get()) is not None:
            wire, samples = await workers.run(functools.partial(self._synthesize, piece))
            if samples:
                self._run.send_audio(piece, wire, samples)

    def _synthesize(self, text: str) -> tuple[bytes, int]:
        """On a worker: Piper -> 24 kHz -> the output format's bytes."""
        with self._slot.use() as tts:
            chunks = [c.samples for c in tts.synthesize(text, self._speed)]
            rate = tts.sample_rate
        if not chunks:
            return b"", 0
        voice = np.concatenate(chunks)
        if self._fmt == "pcm16":
            audio = resample(voice, rate, OUTPUT_RATE)
            return float_to_pcm16(audio), audio.size
        # G.711 straight from the voice's rate; positions still count 24 kHz samples
        narrow = resample(voice, rate, G711_RATE)
        return g711_encode(narrow, self._fmt), narrow.size * (OUTPUT_RATE // G711_RATE)
