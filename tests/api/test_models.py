"""client.models through the SDK, in-process."""

from __future__ import annotations

import httpx2
import openai
import pytest

from tests.conftest import API_KEY, MODEL

pytestmark = pytest.mark.anyio


async def test_list_contains_bundled_models(client: openai.AsyncOpenAI) -> None:
    page = await client.models.list()
    ids = [m.id for m in page.data]
    assert ids == [MODEL, "piper", "tts-1", "tts-1-hd", "gpt-4o-mini-tts",
                   "gpt-4o-mini-tts-2025-12-15", "whisper-tiny.en", "whisper-base",
                   "whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"]
    assert all(m.object == "model" and m.owned_by == "hearth" for m in page.data)


async def test_retrieve_speech_model(client: openai.AsyncOpenAI) -> None:
    assert (await client.models.retrieve("whisper-1")).id == "whisper-1"


async def test_wire_shape_is_openais(http: httpx2.AsyncClient) -> None:
    r = await http.get(f"/v1/models/{MODEL}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert set(r.json()) == {"id", "object", "created", "owned_by"}


async def test_retrieve(client: openai.AsyncOpenAI) -> None:
    model = await client.models.retrieve(MODEL)
    assert model.id == MODEL and model.created > 0


async def test_retrieve_unknown_is_404(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        await client.models.retrieve("gpt-9")
    assert err.value.code == "model_not_found"
    assert err.value.body == {"message": err.value.body["message"],
                              "type": "invalid_request_error", "param": "model",
                              "code": "model_not_found"}
