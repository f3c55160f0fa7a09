"""Conversation items of a Realtime session (API reference: Realtime, "Conversation item"),
their wire forms in both vocabularies, and the chat messages the model reads.

Audio is kept as 16 kHz float32 samples for what the user said (Whisper's rate) and as a
sample count plus per-sentence boundaries for what the assistant said, so a truncated
assistant item keeps exactly the sentences whose audio reached the client.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hearth.errors import InvalidRequest

OUTPUT_RATE = 24_000
"""Rate of every assistant audio format's samples as counted here (G.711 is 8 kHz on the
wire; its positions are still counted at 24 kHz)."""


def new_item_id() -> str:
    return "item_" + secrets.token_urlsafe(15)


@dataclass
class Part:
    """One content part, GA type names: ``input_text``, ``input_audio``, ``input_image``,
    ``output_text``, ``output_audio``."""

    type: str
    text: str | None = None
    transcript: str | None = None
    heard: str | None = None
    """User audio: the transcript the model reads when it is not ``transcript`` (the fast
    model's, while the session's own transcription model is slower)."""
    audio: np.ndarray | None = None  # user audio, 16 kHz float32
    audio_b64: str | None = None  # user audio as the client sent it (retrieve)
    image_url: str | None = None


@dataclass
class Spoken:
    """A sentence of assistant audio: its text and the 24 kHz sample where it ends."""

    text: str
    end_sample: int


@dataclass
class Item:
    """A ``message``, ``function_call`` or ``function_call_output`` item."""

    id: str
    type: str
    role: str | None = None
    status: str = "completed"
    content: list[Part] = field(default_factory=list)
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    transcribed: asyncio.Future[str] | None = None  # user audio: the transcript
    spoken: list[Spoken] = field(default_factory=list)  # assistant audio sentences
    audio_samples: int = 0  # assistant audio sent, 24 kHz samples

    def text(self) -> str:
        """What the model reads for this message (text, or the audio's transcript)."""
        return "".join(_read(p) or "" for p in self.content)

    def truncate(self, audio_end_ms: int) -> None:
        """Keep ``audio_end_ms`` of the assistant's audio and the sentences heard in full
        (OpenAI drops the transcript; a text model needs what the user did hear)."""
        end = audio_end_ms * OUTPUT_RATE // 1000
        self.audio_samples = min(self.audio_samples, end)
        self.spoken = [s for s in self.spoken if s.end_sample <= end]
        for part in self.content:
            if part.type == "output_audio":
                part.transcript = " ".join(s.text for s in self.spoken)


def _read(part: Part) -> str | None:
    if part.type in ("input_text", "output_text"):
        return part.text
    return part.heard if part.heard is not None else part.transcript


def _part_wire(part: Part, beta: bool, with_audio: bool) -> dict[str, Any]:
    kind = part.type
    if beta and kind == "output_text":
        kind = "text"
    elif beta and kind == "output_audio":
        kind = "audio"
    out: dict[str, Any] = {"type": kind}
    if part.type in ("input_text", "output_text"):
        out["text"] = part.text or ""
    elif part.type in ("input_audio", "output_audio"):
        out["transcript"] = part.transcript
        if with_audio and part.audio_b64 is not None:
            out["audio"] = part.audio_b64
    elif part.type == "input_image":
        out["image_url"] = part.image_url
    return out


def item_wire(item: Item, beta: bool, with_audio: bool = False) -> dict[str, Any]:
    """The item as a server event carries it (``with_audio``: user audio included, as
    ``conversation.item.retrieved`` sends it)."""
    out: dict[str, Any] = {
        "id": item.id,
        "object": "realtime.item",
        "type": item.type,
        "status": item.status,
    }
    if item.type == "message":
        out["role"] = item.role
        out["content"] = [_part_wire(p, beta, with_audio) for p in item.content]
    elif item.type == "function_call":
        out.update(call_id=item.call_id, name=item.name, arguments=item.arguments or "")
    else:
        out.update(call_id=item.call_id, output=item.output or "")
    return out


_PART_TYPES = {
    "user": {"input_text", "input_audio", "input_image"},
    "system": {"input_text"},
    "assistant": {"output_text", "output_audio"},
}
_BETA_PARTS = {"text": "output_text", "audio": "output_audio"}


def item_from_wire(raw: dict[str, Any], beta: bool, param: str = "item") -> Item:
    """An item a client sent (``conversation.item.create``, ``response.create`` input);
    raises ``InvalidRequest``. User audio parts are decoded by the caller."""
    kind = raw.get("type", "message")
    item = Item(id=raw.get("id") or new_item_id(), type=kind)
    if kind == "message":
        role = raw.get("role")
        if role not in _PART_TYPES:
            raise InvalidRequest(
                f"Invalid value: '{role}'. Supported values are: 'user', 'assistant' and 'system'.",
                param=f"{param}.role",
                code="invalid_value",
            )
        item.role = role
        for i, part in enumerate(raw.get("content") or []):
            ptype = part.get("type")
            if beta and role == "assistant":
                ptype = _BETA_PARTS.get(ptype, ptype)
            if ptype not in _PART_TYPES[role]:
                raise InvalidRequest(
                    f"Invalid content type '{part.get('type')}' for a {role} message.",
                    param=f"{param}.content[{i}].type",
                    code="invalid_value",
                )
            item.content.append(
                Part(
                    ptype,
                    text=part.get("text"),
                    transcript=part.get("transcript"),
                    audio_b64=part.get("audio"),
                    image_url=part.get("image_url"),
                )
            )
    elif kind == "function_call":
        if not raw.get("name") or not raw.get("call_id"):
            raise InvalidRequest(
                "A function_call item needs 'call_id' and 'name'.",
                param=param,
                code="missing_required_parameter",
            )
        item.call_id, item.name = raw["call_id"], raw["name"]
        item.arguments = raw.get("arguments") or ""
    elif kind == "function_call_output":
        if not raw.get("call_id") or raw.get("output") is None:
            raise InvalidRequest(
                "A function_call_output item needs 'call_id' and 'output'.",
                param=param,
                code="missing_required_parameter",
            )
        item.call_id, item.output = raw["call_id"], raw["output"]
    else:
        raise InvalidRequest(
            f"Invalid value: '{kind}'. Supported values are: 'message', "
            "'function_call' and 'function_call_output'.",
            param=f"{param}.type",
            code="invalid_value",
        )
    return item


class Conversation:
    """The session's ordered items."""

    def __init__(self) -> None:
        self.items: list[Item] = []

    def get(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)

    def last_id(self) -> str | None:
        return self.items[-1].id if self.items else None

    def insert(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Append ``item``, or put it after ``previous_item_id`` (``"root"``: first);
        returns the id before it. Raises ``InvalidRequest`` for a duplicate id or an
        unknown ``previous_item_id``."""
        if self.get(item.id) is not None:
            raise InvalidRequest(
                f"Item with id '{item.id}' already exists.", param="item.id", code="invalid_value"
            )
        if previous_item_id is None:
            before = self.last_id()
            self.items.append(item)
            return before
        if previous_item_id == "root":
            self.items.insert(0, item)
            return None
        for index, existing in enumerate(self.items):
            if existing.id == previous_item_id:
                self.items.insert(index + 1, item)
                return previous_item_id
        raise InvalidRequest(
            f"Item with id '{previous_item_id}' not found.",
            param="previous_item_id",
            code="item_not_found",
        )

    def delete(self, item_id: str) -> bool:
        item = self.get(item_id)
        if item is not None:
            self.items.remove(item)
        return item is not None


def chat_messages(instructions: str, items: list[Item]) -> list[dict[str, Any]]:
    """Chat Completions messages for the model: the instructions as the system message,
    then the items in order (function calls and their outputs as tool calls)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}]
    for item in items:
        if item.type == "function_call":
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments or "{}"},
            }
            last = messages[-1]
            if last["role"] == "assistant" and last.get("tool_calls"):
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif item.type == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item.call_id, "content": item.output or ""}
            )
        elif item.status != "incomplete" or item.text():
            messages.append({"role": item.role, "content": item.text()})
    return messages
