"""Conversation items (API reference: Realtime, ``conversation.item.create`` /
``.retrieve`` / ``.truncate`` / ``.delete``). A user audio item is transcribed when
added; an assistant audio item is truncated to what the client played."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hearth.errors import InvalidRequest
from hearth.services.realtime.audio_in import decode_b64, to_16k
from hearth.services.realtime.events import EventRouter
from hearth.services.realtime.handlers.transcription import transcribe
from hearth.services.realtime.items import OUTPUT_RATE, Item, item_from_wire

if TYPE_CHECKING:
    from hearth.services.realtime.session import RealtimeSession

router = EventRouter()


@router.register("conversation.item.create")
async def create(session: RealtimeSession, event: dict[str, Any]) -> None:
    """Insert ``event["item"]`` after ``previous_item_id`` (default: last; ``"root"``:
    first)."""
    item = item_from_event(session, event["item"], "item")
    previous = session.conversation.insert(item, event.get("previous_item_id"))
    added(session, item, previous)
    for part in item.content:
        if part.audio is not None and part.transcript is None:
            transcribe(session, item, part)
            break


@router.register("conversation.item.retrieve")
async def retrieve(session: RealtimeSession, event: dict[str, Any]) -> None:
    """``conversation.item.retrieved``, with the user audio the client sent."""
    item = find(session, event["item_id"], "retrieving")
    session.emit({"type": "conversation.item.retrieved", "item": item, "with_audio": True})


@router.register("conversation.item.truncate")
async def truncate(session: RealtimeSession, event: dict[str, Any]) -> None:
    """Cut an assistant audio part at ``audio_end_ms`` (the item keeps the sentences
    heard in full)."""
    item = find(session, event["item_id"], "truncating")
    index, end_ms = event["content_index"], event["audio_end_ms"]
    if item.type != "message" or item.role != "assistant":
        raise InvalidRequest(
            "Only assistant messages can be truncated.", param="item_id", code="invalid_value"
        )
    if not 0 <= index < len(item.content) or item.content[index].type != "output_audio":
        raise InvalidRequest(
            f"Content index {index} is not an audio part of item '{item.id}'.",
            param="content_index",
            code="invalid_value",
        )
    duration = item.audio_samples * 1000 // OUTPUT_RATE
    if end_ms < 0 or end_ms > duration:
        raise InvalidRequest(
            f"audio_end_ms ({end_ms}) is beyond the end of the item's audio ({duration} ms).",
            param="audio_end_ms",
            code="invalid_value",
        )
    item.truncate(end_ms)
    session.emit(
        {
            "type": "conversation.item.truncated",
            "item_id": item.id,
            "content_index": index,
            "audio_end_ms": end_ms,
        }
    )


@router.register("conversation.item.delete")
async def delete(session: RealtimeSession, event: dict[str, Any]) -> None:
    find(session, event["item_id"], "deleting")
    session.conversation.delete(event["item_id"])
    session.emit({"type": "conversation.item.deleted", "item_id": event["item_id"]})


def added(session: RealtimeSession, item: Item, previous: str | None) -> None:
    """Announce an item inserted after ``previous`` (GA: ``added`` then ``done``)."""
    session.emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
    session.emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item})


def item_from_event(session: RealtimeSession, raw: dict[str, Any], param: str) -> Item:
    """An item the client sent, its user audio decoded in the session's input format;
    ``InvalidRequest`` naming the field under ``param``."""
    item = item_from_wire(raw, session.vocab.beta, param)
    for index, part in enumerate(item.content):
        if part.type == "input_audio" and part.audio_b64:
            data = decode_b64(part.audio_b64, f"{param}.content[{index}].audio")
            part.audio = to_16k(data, session.config.input_format)
    return item


def find(session: RealtimeSession, item_id: str, action: str) -> Item:
    """The conversation's item ``item_id``; ``InvalidRequest`` (``item_not_found``)."""
    item = session.conversation.get(item_id)
    if item is None:
        raise InvalidRequest(
            f"Error {action} item: the item with id '{item_id}' does not exist.",
            param="item_id",
            code="item_not_found",
        )
    return item
