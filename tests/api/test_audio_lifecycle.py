"""Speech models load lazily (once under concurrency), unload when idle, and overload or
a broken voice gets a clean 429 / 503. Each test has its own audio-only server."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from hearth.app import create_app
from hearth.audio.weights import bundled_voice
from hearth.services.container import Services
from tests.api.audio_helpers import SENTENCES, wer
from tests.conftest import API_KEY
from tests.conftest import test_settings as make_settings

pytestmark = pytest.mark.anyio


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Server:
    def __init__(
        self,
        services: Services,
        http: httpx2.AsyncClient,
        client: openai.AsyncOpenAI,
        clock: FakeClock,
    ) -> None:
        self.services, self.http, self.client, self.clock = services, http, client, clock

    async def audio_stats(self) -> dict[str, Any]:
        r = await self.http.get("/hearth/engine", headers={"Authorization": f"Bearer {API_KEY}"})
        return r.json()["audio"]  # type: ignore[no-any-return]


async def _server(data_dir: Path, **settings: object) -> AsyncIterator[Server]:
    clock = FakeClock()
    services = Services.build(
        make_settings(data_dir, bundled_models=False, audio_idle_unload=60.0, **settings), clock
    )
    app = create_app(services.settings, services)
    async with (
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://hearth.test"
        ) as http,
        openai.AsyncOpenAI(
            base_url="http://hearth.test/v1", api_key=API_KEY, http_client=http, max_retries=0
        ) as client,
    ):
        yield Server(services, http, client, clock)
    services.close()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async for s in _server(tmp_path / "data", audio_workers=2, audio_max_waiting=8):
        yield s


async def _speech(client: openai.AsyncOpenAI, text: str = "Hello there.") -> bytes:
    return (
        await client.audio.speech.create(
            model="tts-1", voice="alloy", input=text, response_format="wav"
        )
    ).content


async def test_models_load_on_first_use_once_and_unload_when_idle(server: Server) -> None:
    stats = await server.audio_stats()
    assert not any(m["loaded"] for m in stats["models"].values())  # serve starts without them

    # a whole sentence: tiny.en misheard a bare "Hello there." about once in 15 runs
    wavs = await asyncio.gather(*[_speech(server.client, SENTENCES[0]) for _ in range(3)])
    texts = await asyncio.gather(
        *[
            server.client.audio.transcriptions.create(
                file=("a.wav", wav), model="gpt-4o-mini-transcribe"
            )
            for wav in wavs
        ]
    )
    assert all(wer(SENTENCES[0], t.text) <= 0.15 for t in texts), [t.text for t in texts]
    models = (await server.audio_stats())["models"]
    assert models["en_US-joe-medium"] == {"loaded": True, "loads": 1, "in_use": 0}
    assert models["whisper-tiny.en"] == {"loaded": True, "loads": 1, "in_use": 0}
    assert not models["whisper-base"]["loaded"]

    server.clock.now += 59
    assert server.services.audio.sweep() == []
    server.clock.now += 2
    assert sorted(server.services.audio.sweep()) == ["en_US-joe-medium", "whisper-tiny.en"]
    assert not any(m["loaded"] for m in (await server.audio_stats())["models"].values())

    await _speech(server.client)  # loads again on the next use
    assert (await server.audio_stats())["models"]["en_US-joe-medium"]["loads"] == 2


async def test_overload_is_429_and_loses_nothing(tmp_path: Path) -> None:
    async for server in _server(tmp_path / "data", audio_workers=1, audio_max_waiting=0):
        long_speech = await _speech(server.client, " ".join(SENTENCES * 3))
        busy = asyncio.create_task(
            server.client.audio.transcriptions.create(
                file=("long.wav", long_speech), model="whisper-1"
            )
        )
        # the one worker is busy once Whisper is in use (not merely a job in flight: the
        # speech job above may still be returning on its thread)
        while not (await server.audio_stats())["models"]["whisper-base"]["in_use"]:
            await asyncio.sleep(0.01)
        with pytest.raises(openai.RateLimitError) as err:
            await _speech(server.client)
        assert err.value.status_code == 429 and err.value.code == "rate_limit_exceeded"
        assert "weather" in (await busy).text.lower()  # the running job finished
        assert len(await _speech(server.client)) > 1000  # and the server serves again


async def test_configured_voices_and_one_that_fails_to_load(tmp_path: Path) -> None:
    voice = bundled_voice()
    assert voice is not None
    extra = tmp_path / "en_US-copy-medium.onnx"  # a user's own Piper voice files
    shutil.copyfile(voice.model, extra)
    shutil.copyfile(voice.config, tmp_path / "en_US-copy-medium.onnx.json")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    shutil.copyfile(voice.config, tmp_path / "broken.onnx.json")
    async for server in _server(
        tmp_path / "data",
        tts_voices=[str(extra), f"{broken}=broken"],
        tts_voice_map={"nova": "en_US-copy-medium", "echo": "broken"},
    ):
        spoken = await server.client.audio.speech.create(
            model="tts-1", voice="nova", input="Hello.", response_format="wav"
        )
        assert len(spoken.content) > 1000
        models = (await server.audio_stats())["models"]
        assert models["en_US-copy-medium"]["loads"] == 1
        assert not models["en_US-joe-medium"]["loaded"]  # nova no longer maps to it
        with pytest.raises(openai.InternalServerError) as err:
            await server.client.audio.speech.create(model="tts-1", voice="echo", input="Hi.")
        assert err.value.status_code == 503 and err.value.code == "model_unavailable"
        assert len(await _speech(server.client)) > 1000  # other voices unaffected
