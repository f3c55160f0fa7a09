"""client.realtime.client_secrets and client.beta.realtime.sessions through the SDK,
in-process: the SDK's response types, and a 400 naming the field for every wrongly typed
body field (never a 500)."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import openai
import pytest

from tests.conftest import API_KEY

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def test_client_secret_carries_its_session(client: openai.AsyncOpenAI) -> None:
    secret = await client.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 60},
        session={
            "type": "realtime",
            "instructions": "Be a pirate.",
            "output_modalities": ["text"],
            "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.7}}},
        },
    )
    assert secret.value.startswith("ek_") and secret.session.type == "realtime"
    assert secret.session.instructions == "Be a pirate."
    assert secret.session.audio and secret.session.audio.input
    assert secret.session.audio.input.turn_detection is not None
    assert secret.session.audio.input.turn_detection.threshold == 0.7
    assert 55 <= secret.expires_at - time.time() <= 61


async def test_beta_session_has_a_client_secret(client: openai.AsyncOpenAI) -> None:
    session = await client.beta.realtime.sessions.create(
        model="gpt-4o-realtime-preview",
        instructions="Be a robot.",
        modalities=["text"],
        turn_detection={"type": "server_vad", "silence_duration_ms": 700},
    )
    assert session.client_secret.value.startswith("ek_")
    assert session.instructions == "Be a robot." and session.modalities == ["text"]
    assert session.turn_detection and session.turn_detection.silence_duration_ms == 700


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("client_secrets", {"session": {"type": "realtime", "audio": 5}}, "session.audio"),
        ("client_secrets", {"session": {"model": 1}}, "session.model"),
        ("client_secrets", {"expires_after": {"seconds": "x"}}, "expires_after.seconds"),
        ("client_secrets", {"expires_after": {"seconds": 5}}, "expires_after.seconds"),
        (
            "client_secrets",
            {
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {"turn_detection": {"type": "server_vad", "threshold": "high"}}
                    },
                }
            },
            "session.audio.input.turn_detection.threshold",
        ),
        ("client_secrets", {"session": {"type": "realtime", "tools": [5]}}, "session.tools[0]"),
        (
            "client_secrets",
            {"session": {"type": "realtime", "output_modalities": "text"}},
            "session.output_modalities",
        ),
        (
            "client_secrets",
            {"session": {"type": "realtime", "audio": {"output": {"speed": "1"}}}},
            "session.audio.output.speed",
        ),
        ("client_secrets", {"session": 5}, "session"),
        ("sessions", {"modalities": "text"}, "session.modalities"),
        ("sessions", {"turn_detection": 7}, "session.turn_detection"),
        (
            "sessions",
            {"turn_detection": {"type": "server_vad", "threshold": []}},
            "session.turn_detection.threshold",
        ),
        (
            "sessions",
            {"input_audio_transcription": "whisper-1"},
            "session.input_audio_transcription",
        ),
        ("sessions", {"tools": {"name": "f"}}, "session.tools"),
        ("sessions", {"model": 5}, "model"),
        (
            "sessions",
            {"client_secret": {"expires_after": {"seconds": []}}},
            "client_secret.expires_after.seconds",
        ),
    ],
)
async def test_wrongly_typed_fields_are_400s(
    http: httpx2.AsyncClient, path: str, body: dict[str, Any], param: str
) -> None:
    r = await http.post(f"/v1/realtime/{path}", json=body, headers=AUTH)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["param"] or "").startswith(param), error


async def test_unknown_model_and_missing_key(http: httpx2.AsyncClient) -> None:
    r = await http.post(
        "/v1/realtime/client_secrets",
        headers=AUTH,
        json={"session": {"type": "realtime", "model": "no-such-model"}},
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = await http.post("/v1/realtime/sessions", json={})
    assert r.status_code == 401
