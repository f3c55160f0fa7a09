"""Responses (API reference: Realtime, ``response.create`` / ``response.cancel``): at
most one response in the conversation at a time, any number out of band
(``conversation: "none"``); each runs as a ``ResponseRun`` task of the session."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from hearth.errors import InvalidRequest
from hearth.services.realtime.config import apply_beta, apply_ga
from hearth.services.realtime.events import EventRouter
from hearth.services.realtime.handlers.conversation import find, item_from_event
from hearth.services.realtime.items import Item
from hearth.services.realtime.response import ResponseOptions, ResponseRun

if TYPE_CHECKING:
    from hearth.services.realtime.session import RealtimeSession

router = EventRouter()


@router.register("response.create")
async def create(session: RealtimeSession, event: dict[str, Any]) -> None:
    """Start a response with ``event["response"]``'s overrides of the session's settings;
    ``InvalidRequest`` (``conversation_already_has_active_response``) while one runs in
    the conversation."""
    options = response_options(session, event.get("response") or {})
    if options.conversation != "none" and session.active is not None:
        raise InvalidRequest(
            f"Conversation already has an active response in progress: "
            f"{session.active.state.id}. Wait until the response is finished before "
            "creating a new one.",
            code="conversation_already_has_active_response",
        )
    start(session, options)


@router.register("response.cancel")
async def cancel(session: RealtimeSession, event: dict[str, Any]) -> None:
    """Cancel ``response_id``, or the conversation's response."""
    wanted = event.get("response_id")
    runs = [r for r in session.runs if wanted in (None, r.state.id)]
    if wanted is None:
        runs = [session.active] if session.active is not None else []
    if not runs:
        raise InvalidRequest(
            "Cancellation failed: no active response found.", code="response_cancel_not_active"
        )
    for run in runs:
        run.cancel("client_cancelled")


@router.register("output_audio_buffer.clear")
async def clear_output(session: RealtimeSession, event: dict[str, Any]) -> None:
    raise InvalidRequest(
        "output_audio_buffer.clear is only supported over WebRTC and "
        "SIP; over a WebSocket, send response.cancel and "
        "conversation.item.truncate.",
        code="unsupported_event",
    )


def response_options(session: RealtimeSession, raw: dict[str, Any]) -> ResponseOptions:
    """The session's settings with ``response.create``'s overrides applied."""
    c = session.config
    # validate the overrides as a session would be, then take the response's fields
    overrides = {k: v for k, v in raw.items() if k not in ("conversation", "metadata", "input")}
    if session.vocab.beta:
        merged = apply_beta(c, overrides, session.deps.check, "response")
    else:
        merged = apply_ga(c, {**overrides, "type": "realtime"}, session.deps.check, "response")
    items = None
    if raw.get("input") is not None:
        items = [_resolve(session, r, f"response.input[{i}]") for i, r in enumerate(raw["input"])]
    conversation = raw.get("conversation") or "auto"
    if conversation not in ("auto", "none"):
        raise InvalidRequest(
            f"Invalid value: '{conversation}'. Supported values are: 'auto' and 'none'.",
            param="response.conversation",
            code="invalid_value",
        )
    return ResponseOptions(
        conversation=conversation,
        output_modalities=merged.output_modalities,
        instructions=merged.instructions,
        voice=merged.voice,
        speed=merged.speed,
        output_format=merged.output_format,
        tools=merged.tools,
        tool_choice=merged.tool_choice,
        temperature=merged.temperature,
        max_output_tokens=merged.max_output_tokens,
        metadata=raw.get("metadata"),
        input=items,
    )


def _resolve(session: RealtimeSession, raw: dict[str, Any], param: str) -> Item:
    if raw.get("type") == "item_reference":
        return find(session, raw.get("id") or "", "referencing")
    return item_from_event(session, raw, param)


def start(session: RealtimeSession, options: ResponseOptions) -> None:
    """Run a response now; ``rate_limits.updated`` follows its end."""
    if "audio" in options.output_modalities:
        session.deps.check("voice", options.voice)  # speech models may be absent
    run = ResponseRun(
        session.ctx, options, session.conversation_id if options.conversation != "none" else None
    )
    if run.in_conversation:
        session.active = run
    session.runs.add(run)
    run.start().add_done_callback(lambda _: _finished(session, run))


def _finished(session: RealtimeSession, run: ResponseRun) -> None:
    session.runs.discard(run)
    if session.active is run:
        session.active = None
    session.emit({"type": "rate_limits.updated", "rate_limits": session.deps.rate_limits()})


def answer_turn(session: RealtimeSession) -> None:
    """Answer the turn just committed (server VAD's ``create_response``) once the
    response it interrupted, if any, has ended, unless another response started
    meanwhile; ``session.answers_pending`` counts it until then."""
    session.answers_pending += 1
    session.spawn(_answer(session, session.active))


async def _answer(session: RealtimeSession, previous: ResponseRun | None) -> None:
    try:
        if previous is not None and previous.task is not None:
            await asyncio.wait([previous.task])
        if session.active is None:
            start(session, response_options(session, {}))
    finally:
        session.answers_pending -= 1
