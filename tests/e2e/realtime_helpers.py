"""Helpers for Realtime tests: SDK clients on a real server, strict event checks, speech."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import openai
from openai.types.beta.realtime.realtime_server_event import (
    RealtimeServerEvent as BetaServerEvent,
)
from openai.types.realtime.realtime_server_event import RealtimeServerEvent as GAServerEvent
from pydantic import TypeAdapter

from tests.conftest import API_KEY
from tests.e2e.conftest import Server

GA_EVENTS: TypeAdapter[Any] = TypeAdapter(GAServerEvent)
BETA_EVENTS: TypeAdapter[Any] = TypeAdapter(BetaServerEvent)
BETA_MODEL = "gpt-4o-realtime-preview"  # beta's session.model is a closed list of names
SILENCE = b"\x00\x00" * 24_000  # 1 s of 24 kHz pcm16


def client(server: Server, api_key: str = API_KEY) -> openai.AsyncOpenAI:
    ws = server.url.replace("http://", "ws://") + "/v1"
    return openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key=api_key, websocket_base_url=ws, max_retries=0
    )


class Session:
    """A connection whose every received event is validated strictly against the SDK's
    server-event union for its vocabulary (``recv()`` itself never rejects one)."""

    def __init__(self, conn: Any, beta: bool) -> None:
        self.conn = conn
        self.beta = beta
        self.adapter = BETA_EVENTS if beta else GA_EVENTS
        self.seen: list[dict[str, Any]] = []

    async def next(self, timeout: float = 60) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.conn.recv_bytes(), timeout)
        event = json.loads(raw)
        model = self.adapter.validate_python(event)
        assert model.type == event["type"], event
        self.seen.append(event)
        return event  # type: ignore[no-any-return]

    async def until(self, kind: str, timeout: float = 60) -> dict[str, Any]:
        """Read events until one of type ``kind`` (all kept in ``seen``)."""
        while True:
            event = await self.next(timeout)
            if event["type"] == kind:
                return event
            assert event["type"] != "error", event

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.seen if e["type"] == kind]

    async def send_audio(self, pcm: bytes, chunk: int = 9_600) -> None:
        for start in range(0, len(pcm), chunk):
            await self.conn.input_audio_buffer.append(
                audio=base64.b64encode(pcm[start : start + chunk]).decode()
            )


@asynccontextmanager
async def connect(
    server: Server, beta: bool = False, model: str | None = None, api_key: str = API_KEY
) -> AsyncIterator[Session]:
    c = client(server, api_key)
    if beta:
        manager: Any = c.beta.realtime.connect(model=model or BETA_MODEL)
    else:
        manager = c.realtime.connect(model=model or "gpt-realtime")
    async with manager as conn:
        session = Session(conn, beta)
        created = await session.next()
        assert created["type"] == "session.created"
        yield session
    await c.close()


def audio_of(events: list[dict[str, Any]], beta: bool) -> bytes:
    kind = "response.audio.delta" if beta else "response.output_audio.delta"
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == kind)


def pcm_to_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
