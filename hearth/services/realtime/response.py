"""One Realtime response (API reference: Realtime, ``response.create`` and the
``response.*`` server events): the model streams text through Chat Completions, and for
audio output each finished sentence is synthesized by Piper on an audio worker while the
model goes on, so the first audio delta leaves long before the answer is complete.

Cancelling (``response.cancel``, or the user speaking over it) stops the model and the
synthesis at once; the assistant item keeps the sentences whose audio was already sent.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from openai.types.chat import ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage

from hearth.audio.registry import AudioRegistry
from hearth.domain import Principal
from hearth.errors import HearthError, InternalError, InvalidRequest
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.realtime.config import GA_FORMATS
from hearth.services.realtime.events import Emit, error_event, realtime_error
from hearth.services.realtime.items import (
    OUTPUT_RATE,
    Conversation,
    Item,
    chat_messages,
    item_wire,
)
from hearth.services.realtime.output import ResponseOutput
from hearth.services.realtime.speaker import Speaker
from hearth.services.usage import Kind, UsageMeter

log = logging.getLogger(__name__)

AUDIO_TOKEN_MS = 50
"""Assistant audio is counted as one token per 50 ms, as OpenAI bills it."""


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
            "id": self.id,
            "object": "realtime.response",
            "status": self.status,
            "status_details": self.status_details,
            "output": [item_wire(i, beta) for i in self.output],
            "conversation_id": self.conversation_id,
            "metadata": o.metadata,
            "usage": self.usage,
        }
        if beta:
            out.update(
                modalities=["text", "audio"] if "audio" in o.output_modalities else ["text"],
                voice=o.voice,
                output_audio_format=o.output_format,
                temperature=o.temperature,
                max_output_tokens=o.max_output_tokens,
            )
        else:
            out.update(
                output_modalities=o.output_modalities,
                max_output_tokens=o.max_output_tokens,
                audio={"output": {"format": GA_FORMATS[o.output_format], "voice": o.voice}},
            )
        return out


@dataclass
class Context:
    """What a response needs from its session."""

    chat: ChatCompletions
    chat_model: str
    caller: Principal
    audio: AudioRegistry
    conversation: Conversation
    emit: Emit
    meter: UsageMeter | None = None
    """Records the session's audio: Whisper seconds and Piper characters (its text tokens
    are recorded by ``chat``)."""

    def record(self, kind: Kind, model: str, *, characters: int = 0, seconds: int = 0) -> None:
        """Count one speech model request of this session's caller (``characters``
        spoken, ``seconds`` of audio transcribed, rounded up)."""
        if self.meter is not None:
            self.meter.record(self.caller, kind, model, characters=characters, seconds=seconds)


class ResponseRun:
    """Runs one response as a task; ``cancel(reason)`` ends it as ``cancelled``."""

    def __init__(self, ctx: Context, options: ResponseOptions, conversation_id: str | None):
        self.ctx = ctx
        self.state = ResponseState(options, conversation_id)
        self.cancel_reason: str | None = None
        self._out = ResponseOutput(
            self.state.id,
            self.state.output,
            ctx.emit,
            ctx.conversation if self.in_conversation else None,
            options.output_format,
        )
        self._chat_usage: CompletionUsage | None = None
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
            self._fail(exc)
        except Exception:
            log.exception("realtime response failed")
            self._fail(InternalError("The response failed."))
        else:
            if finish == "length":
                self.state.status = "incomplete"
                self.state.status_details = {"type": "incomplete", "reason": "max_output_tokens"}
            else:
                self.state.status = "completed"
        # an output item ends completed unless its response did not
        status = "completed" if self.state.status == "completed" else "incomplete"
        self._out.close_message(status)
        self._out.close_calls(status)
        if self._chat_usage is not None:
            self._usage(self._chat_usage)
        emit({"type": "response.done", "response": self.state})

    def _fail(self, exc: HearthError) -> None:
        self.state.status = "failed"
        self.state.status_details = {
            "type": "failed",
            "error": realtime_error(exc).model_dump(include={"type", "code", "message"}),
        }
        self.ctx.emit(error_event(exc))

    def _params(self, items: list[Item], strict: bool = True) -> ChatCompletionParams:
        o = self.state.options
        body: dict[str, Any] = {
            "model": self.ctx.chat_model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": chat_messages(o.instructions, items),
            "temperature": o.temperature,
        }
        if o.max_output_tokens != "inf":
            body["max_completion_tokens"] = o.max_output_tokens
        if o.tools and o.tool_choice != "none":
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t["name"],
                        "description": t.get("description") or "",
                        "parameters": t.get("parameters") or {"type": "object", "properties": {}},
                        "strict": strict,
                    },
                }
                for t in o.tools
            ]
            choice = o.tool_choice
            body["tool_choice"] = (
                {"type": "function", "function": {"name": choice["name"]}}
                if isinstance(choice, dict)
                else choice
            )
        return ChatCompletionParams.model_validate(body)

    async def _stream(self, items: list[Item]) -> AsyncIterator[ChatCompletionChunk]:
        """The model's answer to ``items``, submitted (a 4xx is raised here)."""
        chat, caller = self.ctx.chat, self.ctx.caller
        try:
            return await chat.stream(caller, self._params(items))
        except InvalidRequest as exc:
            # Realtime tools have no `strict`; arguments follow the schema whenever the
            # grammar engine can enforce it (a small model needs that), else it is a hint
            if exc.code != "invalid_json_schema":
                raise
            return await chat.stream(caller, self._params(items, strict=False))

    async def _generate(self) -> str | None:
        """Stream the answer into output items (spoken, for audio output); the finish
        reason of the model."""
        o = self.state.options
        items = o.input if o.input is not None else list(self.ctx.conversation.items)
        for item in items:  # the user's last words must be transcribed before we answer
            if item.transcribed is not None:
                await asyncio.shield(item.transcribed)
        chunks = await self._stream(items)
        speaker = None
        try:
            if "audio" in o.output_modalities:
                speaker = Speaker(
                    self.ctx.audio,
                    o.voice,
                    o.speed,
                    o.output_format,
                    self._out.audio,
                    lambda model, chars: self.ctx.record("audio_speeches", model, characters=chars),
                )
            finish = await self._consume(chunks, speaker)
            if speaker is not None:
                await speaker.finish()
            return finish
        finally:
            if speaker is not None:
                speaker.stop()
            close = getattr(chunks, "aclose", None)
            if close is not None:  # stops generation if we stopped reading early
                await close()

    async def _consume(
        self, chunks: AsyncIterator[ChatCompletionChunk], speaker: Speaker | None
    ) -> str | None:
        finish = None
        async for chunk in chunks:
            if chunk.usage is not None:
                self._chat_usage = chunk.usage
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            finish = choice.finish_reason or finish
            delta = choice.delta
            if delta.content:
                self._out.open_message(speaker is not None)
                if speaker is not None:
                    speaker.feed(delta.content)
                else:
                    self._out.text_delta(delta.content)
            for call in delta.tool_calls or []:
                if call.id:
                    if speaker is not None:
                        await speaker.finish()
                    self._out.close_message("completed")
                    name = call.function.name if call.function else None
                    self._out.open_call(call.id, name or "")
                if call.function and call.function.arguments:
                    self._out.call_delta(call.function.arguments)
        return finish

    def _usage(self, usage: CompletionUsage) -> None:
        details = usage.prompt_tokens_details
        cached = (details.cached_tokens or 0) if details else 0
        audio_ms = sum(i.audio_samples for i in self.state.output) * 1000 // OUTPUT_RATE
        audio_tokens = math.ceil(audio_ms / AUDIO_TOKEN_MS)
        output = usage.completion_tokens + audio_tokens
        self.state.usage = {
            "total_tokens": usage.prompt_tokens + output,
            "input_tokens": usage.prompt_tokens,
            "output_tokens": output,
            "input_token_details": {
                "text_tokens": usage.prompt_tokens,
                "audio_tokens": 0,
                "cached_tokens": cached,
            },
            "output_token_details": {
                "text_tokens": usage.completion_tokens,
                "audio_tokens": audio_tokens,
            },
        }
