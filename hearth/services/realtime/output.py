"""The output items of one Realtime response and their events (API reference: Realtime,
``response.output_item.*``, ``response.content_part.*``, ``response.output_text.*``,
``response.output_audio*``, ``response.function_call_arguments.*``).

A response's output is at most one assistant message open at a time (text, or audio with
its transcript) and any function calls; each item is announced when opened, streamed, and
closed ``completed``, or ``incomplete`` when its response did not complete. In a response
that is part of the conversation, each item is also added to it.
"""

from __future__ import annotations

import base64
from typing import Any

from hearth.services.realtime.events import Emit
from hearth.services.realtime.items import Conversation, Item, Part, Spoken, new_item_id

DELTA_MS = 200
"""Audio per ``response.output_audio.delta``."""


class ResponseOutput:
    """Opens, streams and closes a response's output items, emitting their events."""

    def __init__(
        self,
        response_id: str,
        output: list[Item],
        emit: Emit,
        conversation: Conversation | None,
        output_format: str,
    ) -> None:
        self._id = response_id
        self._output = output
        self._emit = emit
        self._conversation = conversation
        self._format = output_format
        self.message: Item | None = None
        self._calls: list[Item] = []

    def _add(self, item: Item) -> None:
        index = len(self._output)
        self._output.append(item)
        self._emit(
            {
                "type": "response.output_item.added",
                "response_id": self._id,
                "output_index": index,
                "item": item,
            }
        )
        if self._conversation is not None:
            previous = self._conversation.insert(item)
            self._emit(
                {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
            )

    def _done(self, item: Item, status: str) -> None:
        item.status = status
        self._emit(
            {
                "type": "response.output_item.done",
                "response_id": self._id,
                "output_index": self._output.index(item),
                "item": item,
            }
        )
        if self._conversation is not None:
            self._emit({"type": "conversation.item.done", "item": item})

    # ---- the assistant message -------------------------------------------------------

    def open_message(self, audio_out: bool) -> Item:
        """The open assistant message, opened now (with its one content part) if none."""
        if self.message is not None:
            return self.message
        kind = "output_audio" if audio_out else "output_text"
        part = Part(kind, transcript="") if audio_out else Part(kind, text="")
        item = Item(
            id=new_item_id(), type="message", role="assistant", status="in_progress", content=[part]
        )
        self.message = item
        self._add(item)
        self._part_event("response.content_part.added", part)
        return item

    def _part(self, kind: str, **fields: Any) -> None:
        assert self.message is not None
        self._emit(
            {
                "type": kind,
                "response_id": self._id,
                "item_id": self.message.id,
                "output_index": self._output.index(self.message),
                "content_index": 0,
                **fields,
            }
        )

    def _part_event(self, kind: str, part: Part) -> None:
        wire = (
            {"type": "audio", "transcript": part.transcript or ""}
            if part.type == "output_audio"
            else {"type": "text", "text": part.text or ""}
        )
        self._part(kind, part=wire)

    def text_delta(self, text: str) -> None:
        """More text of the open text message."""
        assert self.message is not None
        part = self.message.content[0]
        part.text = (part.text or "") + text
        self._part("response.output_text.delta", delta=text)

    def audio(self, text: str, wire: bytes, samples: int) -> None:
        """Transcript and audio (``samples`` at 24 kHz) of one synthesized piece of the
        open audio message, sent in ``DELTA_MS`` deltas."""
        message = self.message
        assert message is not None
        part = message.content[0]
        spaced = text if not part.transcript else " " + text
        part.transcript = (part.transcript or "") + spaced
        self._part("response.output_audio_transcript.delta", delta=spaced)
        # bytes per delta: 24 kHz 16-bit PCM, or G.711's one byte per 8 kHz sample
        step = DELTA_MS * (48 if self._format == "pcm16" else 8)
        for start in range(0, len(wire), step):
            self._part(
                "response.output_audio.delta",
                delta=base64.b64encode(wire[start : start + step]).decode(),
            )
        message.audio_samples += samples
        message.spoken.append(Spoken(text, message.audio_samples))

    def close_message(self, status: str) -> None:
        """Close the open message, if any, as ``status``."""
        item = self.message
        if item is None:
            return
        part = item.content[0]
        if part.type == "output_audio":
            self._part("response.output_audio.done")
            self._part("response.output_audio_transcript.done", transcript=part.transcript or "")
        else:
            self._part("response.output_text.done", text=part.text or "")
        self._part_event("response.content_part.done", part)
        self.message = None
        self._done(item, status)

    # ---- function calls --------------------------------------------------------------

    def open_call(self, call_id: str, name: str) -> None:
        """A new function call item; its arguments follow by ``call_delta``."""
        item = Item(
            id=new_item_id(),
            type="function_call",
            status="in_progress",
            call_id=call_id,
            name=name,
            arguments="",
        )
        self._calls.append(item)
        self._add(item)

    def _call_fields(self, item: Item) -> dict[str, Any]:
        return {
            "response_id": self._id,
            "item_id": item.id,
            "output_index": self._output.index(item),
            "call_id": item.call_id,
        }

    def call_delta(self, text: str) -> None:
        """More arguments (JSON text) of the last call."""
        item = self._calls[-1]
        item.arguments = (item.arguments or "") + text
        self._emit(
            {
                "type": "response.function_call_arguments.delta",
                **self._call_fields(item),
                "delta": text,
            }
        )

    def close_calls(self, status: str) -> None:
        """Close every open call as ``status``."""
        for item in self._calls:
            if item.status != "in_progress":
                continue
            self._emit(
                {
                    "type": "response.function_call_arguments.done",
                    **self._call_fields(item),
                    "name": item.name,
                    "arguments": item.arguments or "",
                }
            )
            self._done(item, status)
